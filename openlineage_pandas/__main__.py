"""`python -m openlineage_pandas ...`: the same commands as the `openlineage-pandas` script."""

import sys

from openlineage_pandas.cli.main import main

sys.exit(main())
