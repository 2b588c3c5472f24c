"""Every project setting rejects a bad value with the variable's name and the accepted values."""

from __future__ import annotations

import pytest

from openlineage_pandas.config import SETTINGS, ConfigError, Settings, settings_table_markdown

BAD = {bool: "perhaps", int: "-3", float: "soon", str: "   "}


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.env_name for s in SETTINGS])
def test_bad_values_name_the_variable_and_accepted_values(setting):
    default_type = type(setting.default) if setting.default is not None else str
    if setting.key in ("ON_ERROR", "LOG_LEVEL"):
        bad = "loud"
    else:
        bad = BAD[default_type]
    with pytest.raises(ConfigError) as info:
        Settings.from_env({setting.env_name: bad})
    assert setting.env_name in str(info.value) and "accepted values" in str(info.value)


def test_defaults_and_good_values():
    settings = Settings.from_env({})
    assert settings.flush_timeout == 5.0 and settings.column_lineage is True
    custom = Settings.from_env({"OPENLINEAGE_PANDAS_FLUSH_TIMEOUT": "0.5", "OPENLINEAGE_PANDAS_DIR": "/tmp/s"})
    assert custom.flush_timeout == 0.5 and str(custom.events_path) == "/tmp/s/events.jsonl"


def test_readme_table_lists_every_setting():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = settings_table_markdown()
    for setting in SETTINGS:
        assert f"`{setting.env_name}`" in readme and f"`{setting.env_name}`" in table
