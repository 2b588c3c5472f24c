/* The hot path of every hooked call, compiled: the per-thread guard, the tracking switch, the recording wrapper
 * and the hooked-method descriptor. Optional: `_patching.py` and `pandas_ops.py` hold the pure-Python fallback.
 *
 * Why C: a hooked pandas method is looked up about eight times per user operation from inside pandas (where it
 * must behave as the plain original), and each Python-level `__get__` or wrapper frame costs more than the
 * lineage recorded. Here those lookups cost what a plain function's binding costs, and a user-level call adds
 * no Python frame between the user's line and pandas (so warnings' stack levels are untouched).
 *
 * Semantics mirror the Python fallback exactly (tests run both; see tests/hooks/test_speedups.py):
 *   Wrapper(name, original, recorder, switch, target_position, fast) called with (*args, **kwargs):
 *     guard up or switch off -> original(*args, **kwargs);
 *     otherwise guard += 1; result = original(...); then, unless it raised,
 *       [fault point "hooks"]; fast(args, kwargs, result) or recorder(HookedCall(...), result);
 *       an Exception there goes to report_failure("hook <name>", exc) and the result is returned unchanged;
 *     guard -= 1.
 *   HookedMethod(original, wrapper, switch, chained).__get__(obj, type):
 *     guard up or switch off -> original bound to obj; a temporary receiver of a chained-assignment mutator ->
 *     chained_factory(self, obj); otherwise the wrapper bound to obj.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL _Thread_local
#endif

/* Depth of hooked calls (and of tracker-internal code) on this thread: > 0 means "inside pandas or us". */
static THREAD_LOCAL long guard_depth = 0;

/* Set once by configure() / configure_chained() from Python. */
static PyObject *hooked_call_type = NULL; /* HookedCall(name, args, kwargs, target_position, original) */
static PyObject *report_failure = NULL;   /* report_failure(label, exc) */
static PyObject *fault_point = NULL;      /* fault_point() raises while fault injection is on */
static PyObject *safety_globals = NULL;   /* the safety module's namespace: its live "fault_injection" flag */
static PyObject *chained_factory = NULL;  /* chained_factory(hooked_method, obj) -> callable */
static Py_ssize_t temporary_refs = 0;     /* refcount a temporary receiver shows in tp_descr_get (0: unknown) */
static PyObject *str_fault_injection = NULL;

/* ------------------------------------------------------------------------------------------------ guard */

typedef struct {
    PyObject_HEAD
} GuardObject;

static PyObject *guard_get_depth(PyObject *self, void *closure) {
    return PyLong_FromLong(guard_depth);
}

static int guard_set_depth(PyObject *self, PyObject *value, void *closure) {
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "depth cannot be deleted");
        return -1;
    }
    long depth = PyLong_AsLong(value);
    if (depth == -1 && PyErr_Occurred()) {
        return -1;
    }
    guard_depth = depth;
    return 0;
}

static PyGetSetDef guard_getset[] = {
    {"depth", guard_get_depth, guard_set_depth, "hooked calls (and tracker code) active on this thread", NULL},
    {NULL},
};

static PyTypeObject GuardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.Guard",
    .tp_basicsize = sizeof(GuardObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The per-thread reentrancy guard (one instance: `guard`).",
    .tp_getset = guard_getset,
};

/* ------------------------------------------------------------------------------------------------ switch */

typedef struct {
    PyObject_HEAD
    int on;
} SwitchObject;

static PyObject *switch_get_on(SwitchObject *self, void *closure) {
    return PyBool_FromLong(self->on);
}

static int switch_set_on(SwitchObject *self, PyObject *value, void *closure) {
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "on cannot be deleted");
        return -1;
    }
    int on = PyObject_IsTrue(value);
    if (on < 0) {
        return -1;
    }
    self->on = on;
    return 0;
}

static PyObject *switch_call(SwitchObject *self, PyObject *args, PyObject *kwargs) {
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs)) || PyTuple_GET_SIZE(args)) {
        PyErr_SetString(PyExc_TypeError, "TrackingSwitch() takes no arguments");
        return NULL;
    }
    return PyBool_FromLong(self->on);
}

static PyGetSetDef switch_getset[] = {
    {"on", (getter)switch_get_on, (setter)switch_set_on, "whether hooks record", NULL},
    {NULL},
};

static PyTypeObject SwitchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.TrackingSwitch",
    .tp_basicsize = sizeof(SwitchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Whether hooks record: read as `.on`; calling it answers the same.",
    .tp_getset = switch_getset,
    .tp_call = (ternaryfunc)switch_call,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------------------------------ wrapper */

typedef struct {
    PyObject_HEAD
    PyObject *name;
    PyObject *original;
    PyObject *recorder;
    PyObject *fast; /* or Py_None */
    SwitchObject *is_active;
    PyObject *target_position;
    PyObject *failure_label; /* "hook <name>" */
    PyObject *materialize;   /* NULL, or the name of the first parameter: a one-shot iterator there becomes a list */
    PyObject *dict;
    PyObject *weakreflist;
    vectorcallfunc vectorcall;
} WrapperObject;

/* After the original returned `result`: let the recorders see the call. 0 when done (a recorder failure was
 * reported and swallowed), -1 with an exception set when it must propagate (not an Exception, or
 * report_failure raised: ON_ERROR=raise). */
static int wrapper_record(WrapperObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                          PyObject *result) {
    PyObject *arguments = NULL, *kwargs = NULL, *answer = NULL, *call = NULL;
    int status = -1;

    arguments = PyTuple_New(nargs);
    if (arguments == NULL) {
        goto failed;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(arguments, i, Py_NewRef(args[i]));
    }
    kwargs = PyDict_New();
    if (kwargs == NULL) {
        goto failed;
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
                goto failed;
            }
        }
    }
    PyObject *flag = PyDict_GetItemWithError(safety_globals, str_fault_injection);
    if (flag == NULL && PyErr_Occurred()) {
        goto failed;
    }
    if (flag != NULL) {
        int injecting = PyObject_IsTrue(flag);
        if (injecting < 0) {
            goto failed;
        }
        if (injecting) {
            PyObject *none = PyObject_CallNoArgs(fault_point);
            if (none == NULL) {
                goto failed;
            }
            Py_DECREF(none);
        }
    }
    int handled = 0;
    if (self->fast != Py_None) {
        PyObject *fast_args[3] = {arguments, kwargs, result};
        answer = PyObject_Vectorcall(self->fast, fast_args, 3, NULL);
        if (answer == NULL) {
            goto failed;
        }
        handled = PyObject_IsTrue(answer);
        if (handled < 0) {
            goto failed;
        }
    }
    if (!handled) {
        PyObject *call_args[5] = {self->name, arguments, kwargs, self->target_position, self->original};
        call = PyObject_Vectorcall(hooked_call_type, call_args, 5, NULL);
        if (call == NULL) {
            goto failed;
        }
        PyObject *recorder_args[2] = {call, result};
        PyObject *none = PyObject_Vectorcall(self->recorder, recorder_args, 2, NULL);
        if (none == NULL) {
            goto failed;
        }
        Py_DECREF(none);
    }
    status = 0;
    goto done;

failed:
    if (PyErr_ExceptionMatches(PyExc_Exception)) { /* never let lineage break the user's call */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        if (traceback != NULL && value != NULL) {
            PyException_SetTraceback(value, traceback);
        }
        PyObject *report_args[2] = {self->failure_label, value != NULL ? value : Py_None};
        PyObject *none = PyObject_Vectorcall(report_failure, report_args, 2, NULL);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        if (none != NULL) {
            Py_DECREF(none);
            status = 0;
        }
    }
done:
    Py_XDECREF(arguments);
    Py_XDECREF(kwargs);
    Py_XDECREF(answer);
    Py_XDECREF(call);
    return status;
}

/* Where the first parameter's value sits in a vectorcall's arguments (-1: not given). */
static Py_ssize_t first_argument(PyObject *name, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs > 0) {
        return 0;
    }
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        if (PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, i), name) == 0) {
            return nargs + i;
        }
    }
    return -1;
}

static PyObject *wrapper_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    WrapperObject *self = (WrapperObject *)op;
    if (guard_depth || !self->is_active->on) {
        return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *listed = NULL, *small[8], **copied = NULL;
    if (self->materialize != NULL) {
        /* A one-shot iterator is turned into a list first, so the recorder sees the objects the original
         * consumed (pandas makes that list itself anyway). */
        Py_ssize_t index = first_argument(self->materialize, nargs, kwnames);
        if (index >= 0) {
            PyObject *value = args[index];
            if (!PyList_CheckExact(value) && !PyTuple_CheckExact(value) && PyIter_Check(value)) {
                Py_ssize_t total = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);
                listed = PySequence_List(value);
                if (listed == NULL) {
                    return NULL; /* consuming the user's iterator failed: the error pandas would have raised */
                }
                copied = total <= 8 ? small : PyMem_New(PyObject *, total);
                if (copied == NULL) {
                    Py_DECREF(listed);
                    return PyErr_NoMemory();
                }
                memcpy(copied, args, total * sizeof(PyObject *));
                copied[index] = listed;
                args = copied;
                nargsf = (size_t)nargs; /* our own array: no offset slot before it */
            }
        }
    }
    guard_depth++;
    PyObject *result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    if (result != NULL && wrapper_record(self, args, nargs, kwnames, result) < 0) {
        Py_CLEAR(result);
    }
    guard_depth--;
    Py_XDECREF(listed);
    if (copied != NULL && copied != small) {
        PyMem_Free(copied);
    }
    return result;
}

static PyObject *wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"name", "original", "recorder", "is_active", "target_position", "fast",
                               "materialize", NULL};
    PyObject *name, *original, *recorder, *is_active, *target_position, *fast = Py_None, *materialize = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOOO!O!|OO:Wrapper", keywords, &name, &original, &recorder,
                                     &SwitchType, &is_active, &PyLong_Type, &target_position, &fast,
                                     &materialize)) {
        return NULL;
    }
    if (materialize != Py_None && !PyUnicode_Check(materialize)) {
        PyErr_SetString(PyExc_TypeError, "materialize must be a parameter name or None");
        return NULL;
    }
    if (hooked_call_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.configure() was not called");
        return NULL;
    }
    WrapperObject *self = (WrapperObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->failure_label = PyUnicode_FromFormat("hook %U", name);
    if (self->failure_label == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->name = Py_NewRef(name);
    self->original = Py_NewRef(original);
    self->recorder = Py_NewRef(recorder);
    self->fast = Py_NewRef(fast);
    self->is_active = (SwitchObject *)Py_NewRef(is_active);
    self->target_position = Py_NewRef(target_position);
    self->materialize = materialize != Py_None ? Py_NewRef(materialize) : NULL;
    self->vectorcall = wrapper_vectorcall;
    return (PyObject *)self;
}

static int wrapper_traverse(WrapperObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->name);
    Py_VISIT(self->original);
    Py_VISIT(self->recorder);
    Py_VISIT(self->fast);
    Py_VISIT(self->is_active);
    Py_VISIT(self->target_position);
    Py_VISIT(self->failure_label);
    Py_VISIT(self->materialize);
    Py_VISIT(self->dict);
    return 0;
}

static int wrapper_clear(WrapperObject *self) {
    Py_CLEAR(self->name);
    Py_CLEAR(self->original);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->fast);
    Py_CLEAR(self->is_active);
    Py_CLEAR(self->target_position);
    Py_CLEAR(self->failure_label);
    Py_CLEAR(self->materialize);
    Py_CLEAR(self->dict);
    return 0;
}

static void wrapper_dealloc(WrapperObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    wrapper_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Bound like a plain function: on an instance it becomes a method, on the class it is itself. */
static PyObject *wrapper_descr_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, obj);
}

static PyObject *wrapper_repr(WrapperObject *self) {
    return PyUnicode_FromFormat("<hooked %R>", self->original);
}

/* Pickled and copied by reference, like the function it stands for. */
static PyObject *wrapper_reduce(PyObject *self, PyObject *unused) {
    return PyObject_GetAttrString(self, "__qualname__");
}

static PyMethodDef wrapper_methods[] = {
    {"__reduce__", wrapper_reduce, METH_NOARGS, NULL},
    {NULL},
};

static PyMemberDef wrapper_members[] = {
    {"original", T_OBJECT, offsetof(WrapperObject, original), READONLY},
    {"fast", T_OBJECT, offsetof(WrapperObject, fast), READONLY},
    {NULL},
};

static PyGetSetDef wrapper_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

static PyTypeObject WrapperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.Wrapper",
    .tp_basicsize = sizeof(WrapperObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A hooked callable: the original, recorded when called outermost while tracking is on.",
    .tp_new = wrapper_new,
    .tp_dealloc = (destructor)wrapper_dealloc,
    .tp_traverse = (traverseproc)wrapper_traverse,
    .tp_clear = (inquiry)wrapper_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(WrapperObject, vectorcall),
    .tp_descr_get = wrapper_descr_get,
    .tp_repr = (reprfunc)wrapper_repr,
    .tp_dictoffset = offsetof(WrapperObject, dict),
    .tp_weaklistoffset = offsetof(WrapperObject, weakreflist),
    .tp_methods = wrapper_methods,
    .tp_members = wrapper_members,
    .tp_getset = wrapper_getset,
};

/* ------------------------------------------------------------------------------------------------ numpy proxy */

/* A Wrapper that stands in for a numpy function in numpy's namespace (numpy_ops.py's _PyFunctionProxy, compiled):
 * pandas calls those functions from inside its own code all the time, and each such call is one vectorcall here.
 * It equals and hashes like the original (registries keyed by numpy functions, e.g. for __array_function__,
 * still find it), reads the attributes it lacks from the original, and prints as the original; pickling goes by
 * name (Wrapper's __reduce__), so it unpickles as itself. */

static PyObject *proxy_richcompare(PyObject *self, PyObject *other, int op) {
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *theirs = PyObject_GetAttrString(other, "__openlineage_pandas_original__");
    if (theirs == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        theirs = Py_NewRef(other);
    }
    PyObject *answer = PyObject_RichCompare(((WrapperObject *)self)->original, theirs, op);
    Py_DECREF(theirs);
    return answer;
}

static Py_hash_t proxy_hash(PyObject *self) {
    return PyObject_Hash(((WrapperObject *)self)->original);
}

static PyObject *proxy_getattro(PyObject *self, PyObject *name) {
    PyObject *found = PyObject_GenericGetAttr(self, name);
    if (found != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return found;
    }
    PyErr_Clear();
    return PyObject_GetAttr(((WrapperObject *)self)->original, name);
}

static PyObject *proxy_repr(PyObject *self) {
    return PyObject_Repr(((WrapperObject *)self)->original);
}

static PyObject *proxy_str(PyObject *self) {
    return PyObject_Str(((WrapperObject *)self)->original);
}

static PyTypeObject FunctionProxyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.FunctionProxy",
    .tp_base = &WrapperType, /* everything else is the Wrapper's */
    .tp_basicsize = sizeof(WrapperObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A hooked numpy function in numpy's namespace: a Wrapper that compares, hashes and prints as the "
              "original and reads missing attributes from it.",
    .tp_traverse = (traverseproc)wrapper_traverse, /* named here: CPython checks them before inheriting */
    .tp_clear = (inquiry)wrapper_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(WrapperObject, vectorcall),
    .tp_repr = proxy_repr,
    .tp_str = proxy_str,
    .tp_richcompare = proxy_richcompare,
    .tp_hash = proxy_hash,
    .tp_getattro = proxy_getattro,
};

/* ------------------------------------------------------------------------------------------------ hooked method */

typedef struct {
    PyObject_HEAD
    PyObject *original;
    PyObject *wrapper;
    SwitchObject *is_active;
    PyObject *chained; /* the chained-assignment check's kind, or None */
} HookedMethodObject;

static PyObject *hooked_method_get(PyObject *op, PyObject *obj, PyObject *type) {
    HookedMethodObject *self = (HookedMethodObject *)op;
    if (guard_depth || !self->is_active->on) {
        descrgetfunc bind = Py_TYPE(self->original)->tp_descr_get;
        return bind != NULL ? bind(self->original, obj, type) : Py_NewRef(self->original);
    }
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self->wrapper);
    }
    if (self->chained != Py_None && temporary_refs && Py_REFCNT(obj) <= temporary_refs && chained_factory != NULL) {
        PyObject *factory_args[2] = {op, obj};
        return PyObject_Vectorcall(chained_factory, factory_args, 2, NULL);
    }
    return PyMethod_New(self->wrapper, obj);
}

static PyObject *hooked_method_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"original", "wrapper", "is_active", "chained", NULL};
    PyObject *original, *wrapper, *is_active, *chained = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!|O:HookedMethod", keywords, &original, &wrapper,
                                     &SwitchType, &is_active, &chained)) {
        return NULL;
    }
    HookedMethodObject *self = (HookedMethodObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->original = Py_NewRef(original);
    self->wrapper = Py_NewRef(wrapper);
    self->is_active = (SwitchObject *)Py_NewRef(is_active);
    self->chained = Py_NewRef(chained);
    return (PyObject *)self;
}

static int hooked_method_traverse(HookedMethodObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->original);
    Py_VISIT(self->wrapper);
    Py_VISIT(self->is_active);
    Py_VISIT(self->chained);
    return 0;
}

static int hooked_method_clear(HookedMethodObject *self) {
    Py_CLEAR(self->original);
    Py_CLEAR(self->wrapper);
    Py_CLEAR(self->is_active);
    Py_CLEAR(self->chained);
    return 0;
}

static void hooked_method_dealloc(HookedMethodObject *self) {
    PyObject_GC_UnTrack(self);
    hooked_method_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef hooked_method_members[] = {
    {"original", T_OBJECT, offsetof(HookedMethodObject, original), READONLY},
    {"wrapper", T_OBJECT, offsetof(HookedMethodObject, wrapper), READONLY},
    {"is_active", T_OBJECT, offsetof(HookedMethodObject, is_active), READONLY},
    {"chained", T_OBJECT, offsetof(HookedMethodObject, chained), READONLY},
    {NULL},
};

static PyObject *hooked_method_wrapped(HookedMethodObject *self, void *closure) {
    return Py_NewRef(self->original);
}

static PyObject *hooked_method_doc(HookedMethodObject *self, void *closure) {
    return PyObject_GetAttrString(self->original, "__doc__");
}

static PyGetSetDef hooked_method_getset[] = {
    {"__wrapped__", (getter)hooked_method_wrapped, NULL, NULL, NULL},
    {"__doc__", (getter)hooked_method_doc, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject HookedMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.HookedMethod",
    .tp_basicsize = sizeof(HookedMethodObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = hooked_method_new,
    .tp_dealloc = (destructor)hooked_method_dealloc,
    .tp_traverse = (traverseproc)hooked_method_traverse,
    .tp_clear = (inquiry)hooked_method_clear,
    .tp_descr_get = hooked_method_get,
    .tp_members = hooked_method_members,
    .tp_getset = hooked_method_getset,
};

/* ------------------------------------------------------------------------------------------------ then-call */

/* ThenCall(first, then)(*args, **kwargs): first(*args, **kwargs), then then(*args, **kwargs) once that returned;
 * the result is first's. Being C, it puts no Python frame under `first`: the post-import hook (hooks/_lazy.py) runs
 * a module's code exactly as deep in CPython's frame stack as an untracked import does. */
typedef struct {
    PyObject_HEAD
    PyObject *first;
    PyObject *then;
} ThenCallObject;

static PyObject *then_call_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *first, *then;
    if (!PyArg_ParseTuple(args, "OO:ThenCall", &first, &then)) {
        return NULL;
    }
    ThenCallObject *self = (ThenCallObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->first = Py_NewRef(first);
    self->then = Py_NewRef(then);
    return (PyObject *)self;
}

static PyObject *then_call_call(PyObject *op, PyObject *args, PyObject *kwargs) {
    ThenCallObject *self = (ThenCallObject *)op;
    PyObject *result = PyObject_Call(self->first, args, kwargs);
    if (result == NULL) {
        return NULL;
    }
    PyObject *after = PyObject_Call(self->then, args, kwargs);
    if (after == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    Py_DECREF(after);
    return result;
}

static int then_call_traverse(ThenCallObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->first);
    Py_VISIT(self->then);
    return 0;
}

static int then_call_clear(ThenCallObject *self) {
    Py_CLEAR(self->first);
    Py_CLEAR(self->then);
    return 0;
}

static void then_call_dealloc(ThenCallObject *self) {
    PyObject_GC_UnTrack(self);
    then_call_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ThenCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.ThenCall",
    .tp_basicsize = sizeof(ThenCallObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = then_call_new,
    .tp_dealloc = (destructor)then_call_dealloc,
    .tp_traverse = (traverseproc)then_call_traverse,
    .tp_clear = (inquiry)then_call_clear,
    .tp_call = then_call_call,
};

/* ------------------------------------------------------------------------------------------------ refcount probe */

/* Measures what HookedMethod's tp_descr_get sees as a receiver's reference count: appends it to `seen` and
 * returns `returned` (pandas_ops measures a temporary and a named receiver once, at import). */
typedef struct {
    PyObject_HEAD
    PyObject *seen;
    PyObject *returned;
} ProbeObject;

static PyObject *probe_get(PyObject *op, PyObject *obj, PyObject *type) {
    ProbeObject *self = (ProbeObject *)op;
    if (obj != NULL && obj != Py_None) {
        PyObject *count = PyLong_FromSsize_t(Py_REFCNT(obj));
        if (count == NULL || PyList_Append(self->seen, count) < 0) {
            Py_XDECREF(count);
            return NULL;
        }
        Py_DECREF(count);
    }
    return Py_NewRef(self->returned);
}

static PyObject *probe_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *seen, *returned;
    if (!PyArg_ParseTuple(args, "O!O:RefcountProbe", &PyList_Type, &seen, &returned)) {
        return NULL;
    }
    ProbeObject *self = (ProbeObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->seen = Py_NewRef(seen);
    self->returned = Py_NewRef(returned);
    return (PyObject *)self;
}

static void probe_dealloc(ProbeObject *self) {
    Py_XDECREF(self->seen);
    Py_XDECREF(self->returned);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ProbeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.RefcountProbe",
    .tp_basicsize = sizeof(ProbeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = probe_new,
    .tp_dealloc = (destructor)probe_dealloc,
    .tp_descr_get = probe_get,
};

/* ------------------------------------------------------------------------------------------------ fast recorders */

/* The hottest fast recorders of pandas_ops (a deferrable DataFrame method, `DataFrame.__getitem__`, a Series
 * operator, `pd.concat` by rows), compiled for their common case. The Python closure each is built from stays the specification:
 * anything else (a lineage keyed by stale labels, arguments that are not plain builtins, a per-label reduction
 * in play, ...) is handed to it untouched, before anything was changed. */

/* Set by configure_pandas() when pandas is bound. */
static PyObject *frame_type = NULL;         /* pandas.DataFrame */
static PyObject *series_type = NULL;        /* pandas.Series */
static PyObject *lineage_attribute = NULL;  /* registry.ATTRIBUTE */
static PyObject *lineage_table = NULL;      /* registry.lineage_table: its `generation` */
static PyObject *deferred_type = NULL;      /* provenance.deferred.Deferred */
static PyObject *run_plain_rule = NULL;     /* pandas_ops._run_plain_rule */
static PyObject *log_function = NULL;       /* pandas_ops._log_entry */
static PyObject *tracked_entry_function = NULL; /* pandas_ops._tracked_entry_spec */
static PyObject *column_rule = NULL;        /* rules_pandas.column */
static PyObject *keep_columns = NULL;       /* pandas_ops._keep_columns */
static PyObject *filter_by_mask = NULL;     /* pandas_ops._filter_by_mask */
static PyObject *series_elementwise = NULL; /* pandas_ops._series_elementwise */
static PyObject *concat_rows = NULL;        /* pandas_ops._concat_rows */
static PyObject *per_label_entries = NULL;  /* pandas_ops._per_label.entries (a dict, emptied but never replaced) */
static PyObject *label_column = NULL, *label_columns = NULL, *label_mask = NULL, *label_concat = NULL;
static PyObject *deferred_globals = NULL;   /* provenance.deferred's namespace: its `eager` switch */
static PyObject *scoped_run = NULL;         /* run._scoped_run, the ContextVar of job() scopes */
static PyObject *run_globals = NULL;        /* run's namespace: its `_process_run` */
static long max_depth = 0;
static PyObject *str_generation, *str_columns, *str_token, *str_value, *str_depth, *str_inplace, *str_name,
    *str_dtype, *str_force, *str_axis, *str_ignore_index, *str_eager, *str_finished, *str_process_run, *str_oplog,
    *str_full, *str_skip;

/* Deferred's slots by offset, so a thunk is made without a Python __init__ frame; offsets[0] < 0: not known. */
enum { SLOT_NAME, SLOT_FN, SLOT_ARGS, SLOT_LABELS, SLOT_DEPTH, SLOT_TOKEN, SLOT_VALUE, SLOT_COUNT };
static const char *deferred_slot_names[SLOT_COUNT] = {"name", "fn", "args", "labels", "depth", "token", "value"};
static Py_ssize_t deferred_offsets[SLOT_COUNT] = {-1};

#define PLAIN_MAX 256

enum { DEFERRING, FRAME_GETITEM, SERIES_BINARY, CONCAT_ROWS };

typedef struct {
    PyObject_HEAD
    int kind;
    PyObject *label;
    PyObject *original; /* DEFERRING: the method, for the rule's HookedCall */
    PyObject *rule;     /* DEFERRING: the lineage rule */
    PyObject *fallback;
    char logged;
    vectorcallfunc vectorcall;
} RecorderObject;

/* The outcome of a compiled step: done (answer set), hand the call to the fallback, or an exception. */
enum { DONE, FALL_BACK, FAILED };

static int is_plain_scalar(PyObject *value) {
    return PyUnicode_CheckExact(value) || PyLong_CheckExact(value) || PyFloat_CheckExact(value) ||
           PyBool_Check(value) || value == Py_None || PyBytes_CheckExact(value) || PyType_Check(value);
}

/* _plain(): a plain copy of `value` (new reference), or NULL without an exception when the fallback decides. */
static PyObject *plain_copy(PyObject *value) {
    if (is_plain_scalar(value)) {
        return Py_NewRef(value);
    }
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(value);
        if (size > PLAIN_MAX) {
            return NULL;
        }
        PyObject **items = PySequence_Fast_ITEMS(value);
        for (Py_ssize_t i = 0; i < size; i++) {
            if (!is_plain_scalar(items[i])) {
                return NULL;
            }
        }
        return PyList_CheckExact(value) ? PyList_GetSlice(value, 0, size) : Py_NewRef(value);
    }
    if (PyDict_CheckExact(value)) {
        if (PyDict_GET_SIZE(value) > PLAIN_MAX) {
            return NULL;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (!is_plain_scalar(key) || !is_plain_scalar(item)) {
                return NULL;
            }
        }
        return PyDict_Copy(value);
    }
    return NULL;
}

/* _tracked_entry() of an exact DataFrame or Series: *lin (new reference) or NULL when untracked; *generation (new
 * reference) the table's current one. FALL_BACK for a frame whose lineage is keyed by other labels. */
static int tracked_entry(PyObject *obj, PyObject **lin, PyObject **generation) {
    *lin = NULL;
    *generation = PyObject_GetAttr(lineage_table, str_generation);
    if (*generation == NULL) {
        return FAILED;
    }
    PyObject *namespace = PyObject_GenericGetDict(obj, NULL);
    if (namespace == NULL) {
        return FAILED;
    }
    PyObject *entry = PyDict_GetItemWithError(namespace, lineage_attribute);
    if (entry == NULL) {
        Py_DECREF(namespace);
        return PyErr_Occurred() ? FAILED : DONE;
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) {
        Py_DECREF(namespace);
        return FALL_BACK;
    }
    int current = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 0), *generation, Py_EQ);
    if (current <= 0) { /* < 0: error; 0: left over from before a reset, i.e. untracked */
        Py_DECREF(namespace);
        return current < 0 ? FAILED : DONE;
    }
    PyObject *found = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
    Py_DECREF(namespace);
    if ((PyObject *)Py_TYPE(obj) == frame_type) {
        PyObject *cols = PyObject_GetAttr(obj, str_columns);
        PyObject *token = cols != NULL ? PyObject_GetAttr(found, str_token) : NULL;
        Py_XDECREF(cols);
        Py_XDECREF(token);
        if (token == NULL) {
            Py_DECREF(found);
            return FAILED;
        }
        if (token != cols) { /* relabelled behind our back: lineage_for() realigns, in the fallback */
            Py_DECREF(found);
            return FALL_BACK;
        }
    }
    *lin = found;
    return DONE;
}

/* _depth(): how many unevaluated steps stand behind `lin`; -1 on error. */
static long chain_depth(PyObject *lin) {
    if (lin == NULL || (PyObject *)Py_TYPE(lin) != deferred_type) {
        return 0;
    }
    PyObject *value = PyObject_GetAttr(lin, str_value);
    if (value == NULL) {
        return -1;
    }
    Py_DECREF(value);
    if (value != Py_None) {
        return 0;
    }
    PyObject *depth = PyObject_GetAttr(lin, str_depth);
    if (depth == NULL) {
        return -1;
    }
    long result = PyLong_AsLong(depth);
    Py_DECREF(depth);
    return result;
}

/* Deferred(label, fn, args, labels, depth + 1), with `token` set when given. Unless thunks are evaluated eagerly
 * (then its __init__ runs), it is filled slot by slot, as that __init__ would. */
static PyObject *new_thunk(PyObject *label, PyObject *fn, PyObject *args, PyObject *labels, long depth,
                           PyObject *token) {
    PyObject *next_depth = PyLong_FromLong(depth + 1);
    if (next_depth == NULL) {
        return NULL;
    }
    PyObject *eager = deferred_offsets[0] >= 0 ? PyDict_GetItemWithError(deferred_globals, str_eager) : NULL;
    if (eager == Py_False) {
        PyTypeObject *type = (PyTypeObject *)deferred_type;
        PyObject *thunk = type->tp_alloc(type, 0);
        if (thunk != NULL) {
            PyObject *values[SLOT_COUNT] = {label, fn, args, labels, next_depth, token ? token : Py_None, Py_None};
            for (int i = 0; i < SLOT_COUNT; i++) {
                *(PyObject **)((char *)thunk + deferred_offsets[i]) = Py_NewRef(values[i]);
            }
        }
        Py_DECREF(next_depth);
        return thunk;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(next_depth);
        return NULL;
    }
    PyObject *deferred_args[5] = {label, fn, args, labels, next_depth};
    PyObject *thunk = PyObject_Vectorcall(deferred_type, deferred_args, 5, NULL);
    Py_DECREF(next_depth);
    if (thunk != NULL && token != NULL && PyObject_SetAttr(thunk, str_token, token) < 0) {
        Py_CLEAR(thunk);
    }
    return thunk;
}

/* _thunk(): a thunk over `base`'s chain, evaluated at once when that chain is MAX_DEPTH long. */
static PyObject *chained_thunk(PyObject *label, PyObject *fn, PyObject *args, PyObject *labels, PyObject *base) {
    long depth = chain_depth(base);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *thunk = new_thunk(label, fn, args, labels, depth, NULL);
    if (thunk != NULL && depth >= max_depth) {
        PyObject *value = PyObject_CallMethodNoArgs(thunk, str_force);
        if (value == NULL) {
            Py_CLEAR(thunk);
        }
        Py_XDECREF(value);
    }
    return thunk;
}

/* result.__dict__[ATTRIBUTE] = (generation, thunk) */
static int store(PyObject *result, PyObject *generation, PyObject *thunk) {
    PyObject *stored = PyTuple_Pack(2, generation, thunk);
    if (stored == NULL) {
        return -1;
    }
    int failed = PyObject_GenericSetAttr(result, lineage_attribute, stored);
    Py_DECREF(stored);
    return failed;
}

/* run.current_run(): the innermost unfinished job() scope, else the script run (new references; None if none). */
static PyObject *current_run(void) {
    PyObject *scoped;
    if (PyContextVar_Get(scoped_run, Py_None, &scoped) < 0) {
        return NULL;
    }
    if (scoped != Py_None) {
        PyObject *finished = PyObject_GetAttr(scoped, str_finished);
        int done = finished != NULL ? PyObject_IsTrue(finished) : -1;
        Py_XDECREF(finished);
        if (done <= 0) {
            if (done < 0) {
                Py_CLEAR(scoped);
            }
            return scoped;
        }
    }
    Py_DECREF(scoped);
    PyObject *process = PyDict_GetItemWithError(run_globals, str_process_run);
    return process != NULL ? Py_NewRef(process) : (PyErr_Occurred() ? NULL : Py_NewRef(Py_None));
}

/* pandas_ops._log: past the operation log's bound (every operation after a run's first 200) only its counter
 * advances, here; below it, the Python function builds the entry. */
static int log_operation(PyObject *label, PyObject *before, PyObject *after, PyObject *lin, PyObject *thunk) {
    PyObject *run = current_run();
    if (run == NULL || run == Py_None) {
        Py_XDECREF(run);
        return run == NULL ? -1 : 0;
    }
    PyObject *oplog = PyObject_GetAttr(run, str_oplog);
    Py_DECREF(run);
    PyObject *full = oplog != NULL ? PyObject_GetAttr(oplog, str_full) : NULL;
    if (full == NULL) {
        Py_XDECREF(oplog);
        return -1;
    }
    Py_DECREF(full);
    if (full == Py_True) {
        PyObject *counted = PyObject_CallMethodNoArgs(oplog, str_skip);
        Py_DECREF(oplog);
        Py_XDECREF(counted);
        return counted == NULL ? -1 : 0;
    }
    Py_DECREF(oplog);
    PyObject *log_args[5] = {label, before, after, lin, thunk};
    PyObject *none = PyObject_Vectorcall(log_function, log_args, 5, NULL);
    Py_XDECREF(none);
    return none == NULL ? -1 : 0;
}

/* pandas_ops._deferring_method's `fast`. */
static int record_deferring(RecorderObject *self, PyObject *arguments, PyObject *kwargs, PyObject *result,
                            PyObject **answer) {
    PyObject *receiver = PyTuple_GET_ITEM(arguments, 0);
    if ((PyObject *)Py_TYPE(result) != frame_type || (PyObject *)Py_TYPE(receiver) != frame_type ||
        result == receiver) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *inplace = PyDict_GetItemWithError(kwargs, str_inplace);
    if (inplace == Py_True) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    if (inplace == NULL && PyErr_Occurred()) {
        return FAILED;
    }
    PyObject *lin, *generation, *cols = NULL, *plain_args = NULL, *plain_kwargs = NULL, *out_cols = NULL;
    PyObject *thunk_args = NULL, *thunk = NULL;
    int outcome = tracked_entry(receiver, &lin, &generation);
    if (outcome != DONE || lin == NULL) {
        if (outcome == DONE) {
            *answer = Py_NewRef(Py_True); /* an untracked frame: nothing to record */
        }
        goto done;
    }
    outcome = FAILED;
    Py_ssize_t nargs = PyTuple_GET_SIZE(arguments);
    plain_args = PyTuple_New(nargs > 1 ? nargs : 0);
    if (plain_args == NULL) {
        goto done;
    }
    if (nargs > 1) {
        PyTuple_SET_ITEM(plain_args, 0, Py_NewRef(Py_None));
        for (Py_ssize_t i = 1; i < nargs; i++) {
            PyObject *copy = plain_copy(PyTuple_GET_ITEM(arguments, i));
            if (copy == NULL) {
                outcome = PyErr_Occurred() ? FAILED : FALL_BACK;
                goto done;
            }
            PyTuple_SET_ITEM(plain_args, i, copy);
        }
    }
    if (PyDict_GET_SIZE(kwargs)) {
        plain_kwargs = PyDict_New();
        if (plain_kwargs == NULL) {
            goto done;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(kwargs, &pos, &key, &item)) {
            PyObject *copy = plain_copy(item);
            if (copy == NULL) {
                outcome = PyErr_Occurred() ? FAILED : FALL_BACK;
                goto done;
            }
            int failed = PyDict_SetItem(plain_kwargs, key, copy);
            Py_DECREF(copy);
            if (failed < 0) {
                goto done;
            }
        }
    }
    else {
        plain_kwargs = Py_NewRef(kwargs);
    }
    long depth = chain_depth(lin);
    if (depth == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (depth >= max_depth) {
        *answer = Py_NewRef(Py_False);
        outcome = DONE;
        goto done;
    }
    cols = PyObject_GetAttr(receiver, str_columns);
    out_cols = cols != NULL ? PyObject_GetAttr(result, str_columns) : NULL;
    if (out_cols == NULL) {
        goto done;
    }
    thunk_args = PyTuple_Pack(8, self->rule, self->label, self->original, plain_args, plain_kwargs, lin, cols,
                              out_cols);
    if (thunk_args == NULL) {
        goto done;
    }
    thunk = new_thunk(self->label, run_plain_rule, thunk_args, out_cols, depth, out_cols);
    if (thunk == NULL || store(result, generation, thunk) < 0 ||
        (self->logged && log_operation(self->label, receiver, result, lin, thunk) < 0)) {
        goto done;
    }
    *answer = Py_NewRef(Py_True);
    outcome = DONE;
done:
    Py_XDECREF(lin);
    Py_XDECREF(generation);
    Py_XDECREF(cols);
    Py_XDECREF(plain_args);
    Py_XDECREF(plain_kwargs);
    Py_XDECREF(out_cols);
    Py_XDECREF(thunk_args);
    Py_XDECREF(thunk);
    return outcome;
}

static int is_str_list(PyObject *key) {
    if (!PyList_CheckExact(key)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(key); i++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(key, i))) {
            return 0;
        }
    }
    return 1;
}

/* pandas_ops._fast_frame_getitem: `df["a"]`, `df[["a", "b"]]`, `df[mask]` on a tracked exact DataFrame. */
static int record_frame_getitem(PyObject *arguments, PyObject *kwargs, PyObject *result, PyObject **answer) {
    if (PyTuple_GET_SIZE(arguments) != 2 || PyDict_GET_SIZE(kwargs)) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *frame = PyTuple_GET_ITEM(arguments, 0), *key = PyTuple_GET_ITEM(arguments, 1);
    if ((PyObject *)Py_TYPE(frame) != frame_type) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *lin, *generation, *name = NULL, *labels = NULL, *cols = NULL, *key_lin = NULL, *key_generation = NULL;
    PyObject *thunk_args = NULL, *thunk = NULL, *dtype = NULL;
    int outcome = tracked_entry(frame, &lin, &generation);
    if (outcome != DONE || lin == NULL) {
        if (outcome == DONE) {
            *answer = Py_NewRef(Py_False);
        }
        goto done;
    }
    outcome = FAILED;
    PyObject *kind = (PyObject *)Py_TYPE(result);
    if (kind == series_type) {
        if (!PyUnicode_CheckExact(key)) {
            *answer = Py_NewRef(Py_False);
            outcome = DONE;
            goto done;
        }
        name = PyObject_GetAttr(result, str_name);
        labels = name != NULL ? PyTuple_Pack(1, name) : NULL;
        thunk_args = labels != NULL ? PyTuple_Pack(3, lin, key, name) : NULL;
        thunk = thunk_args != NULL ? chained_thunk(label_column, column_rule, thunk_args, labels, lin) : NULL;
        if (thunk == NULL || store(result, generation, thunk) < 0) {
            goto done;
        }
        *answer = Py_NewRef(Py_True);
        outcome = DONE;
        goto done;
    }
    if (kind != frame_type) {
        *answer = Py_NewRef(Py_False);
        outcome = DONE;
        goto done;
    }
    cols = PyObject_GetAttr(result, str_columns);
    if (cols == NULL) {
        goto done;
    }
    PyObject *label;
    if (is_str_list(key)) {
        label = label_columns;
        thunk_args = PyTuple_Pack(2, lin, cols);
        thunk = thunk_args != NULL ? chained_thunk(label, keep_columns, thunk_args, cols, lin) : NULL;
    }
    else if ((PyObject *)Py_TYPE(key) == series_type) {
        dtype = PyObject_GetAttr(key, str_dtype);
        int boolean = dtype != NULL ? PyObject_RichCompareBool(dtype, (PyObject *)&PyBool_Type, Py_EQ) : -1;
        if (boolean <= 0) {
            if (boolean == 0) {
                *answer = Py_NewRef(Py_False);
                outcome = DONE;
            }
            goto done;
        }
        int key_outcome = tracked_entry(key, &key_lin, &key_generation);
        if (key_outcome != DONE || key_lin == NULL) {
            if (key_outcome == DONE) {
                *answer = Py_NewRef(Py_False);
            }
            outcome = key_outcome;
            goto done;
        }
        label = label_mask;
        thunk_args = PyTuple_Pack(3, lin, cols, key_lin);
        thunk = thunk_args != NULL ? chained_thunk(label, filter_by_mask, thunk_args, cols, lin) : NULL;
    }
    else {
        *answer = Py_NewRef(Py_False);
        outcome = DONE;
        goto done;
    }
    if (thunk == NULL || PyObject_SetAttr(thunk, str_token, cols) < 0 || store(result, generation, thunk) < 0 ||
        log_operation(label, frame, result, lin, thunk) < 0) {
        goto done;
    }
    *answer = Py_NewRef(Py_True);
    outcome = DONE;
done:
    Py_XDECREF(lin);
    Py_XDECREF(generation);
    Py_XDECREF(name);
    Py_XDECREF(labels);
    Py_XDECREF(cols);
    Py_XDECREF(key_lin);
    Py_XDECREF(key_generation);
    Py_XDECREF(thunk_args);
    Py_XDECREF(thunk);
    Py_XDECREF(dtype);
    return outcome;
}

static int is_scalar(PyObject *value) { /* isinstance(value, _SCALARS) */
    return PyLong_Check(value) || PyFloat_Check(value) || PyUnicode_Check(value) || PyBytes_Check(value) ||
           PyComplex_Check(value) || value == Py_None;
}

/* pandas_ops._fast_series_binary: Series op scalar / Series op Series on exact Series. */
static int record_series_binary(RecorderObject *self, PyObject *arguments, PyObject *kwargs, PyObject *result,
                                PyObject **answer) {
    if (PyTuple_GET_SIZE(arguments) != 2 || PyDict_GET_SIZE(kwargs) || (PyObject *)Py_TYPE(result) != series_type) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    if (PyDict_GET_SIZE(per_label_entries)) { /* a per-label reduction is alive: the fallback looks it up */
        return FALL_BACK;
    }
    PyObject *left = PyTuple_GET_ITEM(arguments, 0), *right = PyTuple_GET_ITEM(arguments, 1);
    if ((PyObject *)Py_TYPE(left) != series_type) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *left_lin, *right_lin = NULL, *generation, *right_generation = NULL, *name = NULL, *labels = NULL;
    PyObject *thunk_args = NULL, *thunk = NULL;
    int outcome = tracked_entry(left, &left_lin, &generation);
    if (outcome != DONE) {
        goto done;
    }
    if (!is_scalar(right)) {
        if ((PyObject *)Py_TYPE(right) != series_type) {
            *answer = Py_NewRef(Py_False);
            goto done;
        }
        outcome = tracked_entry(right, &right_lin, &right_generation);
        if (outcome != DONE) {
            goto done;
        }
    }
    if (left_lin == NULL && right_lin == NULL) {
        *answer = Py_NewRef(Py_True);
        goto done;
    }
    outcome = FAILED;
    name = PyObject_GetAttr(result, str_name);
    labels = name != NULL ? PyTuple_Pack(1, name) : NULL;
    thunk_args = labels != NULL ? PyTuple_Pack(3, left_lin != NULL ? left_lin : Py_None,
                                               right_lin != NULL ? right_lin : Py_None, name) : NULL;
    thunk = thunk_args != NULL ? chained_thunk(self->label, series_elementwise, thunk_args, labels,
                                               left_lin != NULL ? left_lin : right_lin) : NULL;
    if (thunk == NULL || store(result, generation, thunk) < 0) {
        goto done;
    }
    *answer = Py_NewRef(Py_True);
    outcome = DONE;
done:
    Py_XDECREF(left_lin);
    Py_XDECREF(right_lin);
    Py_XDECREF(generation);
    Py_XDECREF(right_generation);
    Py_XDECREF(name);
    Py_XDECREF(labels);
    Py_XDECREF(thunk_args);
    Py_XDECREF(thunk);
    return outcome;
}

/* pandas_ops._fast_concat: `pd.concat([df, ...], ignore_index=...)` stacking exact DataFrames by rows. */
static int record_concat_rows(PyObject *arguments, PyObject *kwargs, PyObject *result, PyObject **answer) {
    if (PyTuple_GET_SIZE(arguments) != 1 || (PyObject *)Py_TYPE(result) != frame_type) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *axis = PyDict_GetItemWithError(kwargs, str_axis);
    if (axis == NULL && PyErr_Occurred()) {
        return FAILED;
    }
    int overflow = 0;
    if (axis != NULL && !(PyLong_CheckExact(axis) && PyLong_AsLongAndOverflow(axis, &overflow) == 0 && !overflow) &&
        !(PyUnicode_CheckExact(axis) && PyUnicode_CompareWithASCIIString(axis, "index") == 0)) {
        return FALL_BACK; /* `axis in (0, "index")` answers for anything else */
    }
    PyObject *objs = PyTuple_GET_ITEM(arguments, 0);
    if (!PyList_CheckExact(objs) && !PyTuple_CheckExact(objs)) {
        *answer = Py_NewRef(Py_False);
        return DONE;
    }
    PyObject *ignore = PyDict_GetItemWithError(kwargs, str_ignore_index);
    if (ignore == NULL && PyErr_Occurred()) {
        return FAILED;
    }
    int ignore_index = ignore != NULL ? PyObject_IsTrue(ignore) : 0;
    if (ignore_index < 0) {
        return FAILED;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(objs);
    PyObject **items = PySequence_Fast_ITEMS(objs);
    PyObject *parts = PyList_New(0), *lins = PyList_New(0), *generation = NULL, *tracked = NULL, *out_cols = NULL;
    PyObject *thunk_args = NULL, *thunk = NULL, *parts_tuple = NULL;
    long tracked_depth = 0;
    int outcome = FAILED;
    if (parts == NULL || lins == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *obj = items[i];
        if (obj == Py_None) {
            continue;
        }
        if ((PyObject *)Py_TYPE(obj) != frame_type) {
            *answer = Py_NewRef(Py_False);
            outcome = DONE;
            goto done;
        }
        PyObject *lin, *part_generation;
        int found = tracked_entry(obj, &lin, &part_generation);
        Py_XSETREF(generation, part_generation);
        if (found != DONE) {
            outcome = found;
            goto done;
        }
        PyObject *cols = PyObject_GetAttr(obj, str_columns);
        PyObject *part = cols != NULL ? PyTuple_Pack(2, lin != NULL ? lin : Py_None, cols) : NULL;
        Py_XDECREF(cols);
        int appended = part != NULL ? PyList_Append(parts, part) : -1;
        Py_XDECREF(part);
        if (appended == 0 && lin != NULL) {
            appended = PyList_Append(lins, lin);
            long depth = chain_depth(lin);
            if (depth == -1 && PyErr_Occurred()) {
                appended = -1;
            }
            else if (tracked == NULL || depth > tracked_depth) { /* the deepest chain decides when it evaluates */
                Py_XSETREF(tracked, Py_NewRef(lin));
                tracked_depth = depth;
            }
        }
        Py_XDECREF(lin);
        if (appended < 0) {
            goto done;
        }
    }
    if (tracked == NULL) {
        *answer = Py_NewRef(Py_True); /* nothing tracked: nothing to record */
        outcome = DONE;
        goto done;
    }
    out_cols = PyObject_GetAttr(result, str_columns);
    parts_tuple = out_cols != NULL ? PyList_AsTuple(parts) : NULL;
    if (parts_tuple == NULL) {
        goto done;
    }
    Py_ssize_t tracked_count = PyList_GET_SIZE(lins);
    thunk_args = PyTuple_New(3 + tracked_count);
    if (thunk_args == NULL) {
        goto done;
    }
    PyTuple_SET_ITEM(thunk_args, 0, Py_NewRef(parts_tuple));
    PyTuple_SET_ITEM(thunk_args, 1, Py_NewRef(out_cols));
    PyTuple_SET_ITEM(thunk_args, 2, Py_NewRef(ignore_index ? Py_True : Py_False));
    for (Py_ssize_t i = 0; i < tracked_count; i++) {
        PyTuple_SET_ITEM(thunk_args, 3 + i, Py_NewRef(PyList_GET_ITEM(lins, i)));
    }
    thunk = chained_thunk(label_concat, concat_rows, thunk_args, out_cols, tracked);
    if (thunk == NULL || PyObject_SetAttr(thunk, str_token, out_cols) < 0 || store(result, generation, thunk) < 0 ||
        log_operation(label_concat, Py_None, result, Py_None, thunk) < 0) {
        goto done;
    }
    *answer = Py_NewRef(Py_True);
    outcome = DONE;
done:
    Py_XDECREF(parts);
    Py_XDECREF(lins);
    Py_XDECREF(generation);
    Py_XDECREF(tracked);
    Py_XDECREF(out_cols);
    Py_XDECREF(parts_tuple);
    Py_XDECREF(thunk_args);
    Py_XDECREF(thunk);
    return outcome;
}

static PyObject *recorder_vectorcall(PyObject *op, PyObject *const *stack, size_t nargsf, PyObject *kwnames) {
    RecorderObject *self = (RecorderObject *)op;
    if (PyVectorcall_NARGS(nargsf) != 3 || kwnames != NULL || frame_type == NULL || !PyTuple_CheckExact(stack[0]) ||
        PyTuple_GET_SIZE(stack[0]) < 1 || !PyDict_CheckExact(stack[1])) {
        return PyObject_Vectorcall(self->fallback, stack, nargsf, kwnames);
    }
    PyObject *answer = NULL;
    int outcome;
    switch (self->kind) {
    case DEFERRING:
        outcome = record_deferring(self, stack[0], stack[1], stack[2], &answer);
        break;
    case FRAME_GETITEM:
        outcome = record_frame_getitem(stack[0], stack[1], stack[2], &answer);
        break;
    case SERIES_BINARY:
        outcome = record_series_binary(self, stack[0], stack[1], stack[2], &answer);
        break;
    default:
        outcome = record_concat_rows(stack[0], stack[1], stack[2], &answer);
        break;
    }
    if (outcome == FALL_BACK) {
        Py_XDECREF(answer);
        return PyObject_Vectorcall(self->fallback, stack, nargsf, kwnames);
    }
    if (outcome == FAILED) {
        Py_XDECREF(answer);
        return NULL;
    }
    return answer;
}

static PyObject *recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"kind", "label", "fallback", "original", "rule", "logged", NULL};
    const char *kind;
    PyObject *label, *fallback, *original = Py_None, *rule = Py_None;
    int logged = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sUO|OOp:FastRecorder", keywords, &kind, &label, &fallback,
                                     &original, &rule, &logged)) {
        return NULL;
    }
    int which;
    if (strcmp(kind, "deferring") == 0) {
        which = DEFERRING;
    }
    else if (strcmp(kind, "frame_getitem") == 0) {
        which = FRAME_GETITEM;
    }
    else if (strcmp(kind, "series_binary") == 0) {
        which = SERIES_BINARY;
    }
    else if (strcmp(kind, "concat_rows") == 0) {
        which = CONCAT_ROWS;
    }
    else {
        PyErr_Format(PyExc_ValueError, "FastRecorder kind %s is not one of deferring, frame_getitem, series_binary, concat_rows",
                     kind);
        return NULL;
    }
    RecorderObject *self = (RecorderObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->kind = which;
    self->label = Py_NewRef(label);
    self->fallback = Py_NewRef(fallback);
    self->original = Py_NewRef(original);
    self->rule = Py_NewRef(rule);
    self->logged = (char)logged;
    self->vectorcall = recorder_vectorcall;
    return (PyObject *)self;
}

static int recorder_traverse(RecorderObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->label);
    Py_VISIT(self->original);
    Py_VISIT(self->rule);
    Py_VISIT(self->fallback);
    return 0;
}

static int recorder_clear(RecorderObject *self) {
    Py_CLEAR(self->label);
    Py_CLEAR(self->original);
    Py_CLEAR(self->rule);
    Py_CLEAR(self->fallback);
    return 0;
}

static void recorder_dealloc(RecorderObject *self) {
    PyObject_GC_UnTrack(self);
    recorder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef recorder_members[] = {
    {"label", T_OBJECT, offsetof(RecorderObject, label), READONLY},
    {"original", T_OBJECT, offsetof(RecorderObject, original), READONLY},
    {"rule", T_OBJECT, offsetof(RecorderObject, rule), READONLY},
    {"logged", T_BOOL, offsetof(RecorderObject, logged), READONLY},
    {"fallback", T_OBJECT, offsetof(RecorderObject, fallback), READONLY},
    {NULL},
};

static PyObject *recorder_kind(RecorderObject *self, void *closure) {
    static const char *kinds[] = {"deferring", "frame_getitem", "series_binary", "concat_rows"};
    return PyUnicode_FromString(kinds[self->kind]);
}

static PyGetSetDef recorder_getset[] = {
    {"kind", (getter)recorder_kind, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openlineage_pandas.hooks._speedups.FastRecorder",
    .tp_basicsize = sizeof(RecorderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "(args, kwargs, result) -> bool: one of pandas_ops' fast recorders, compiled for its common case.",
    .tp_new = recorder_new,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(RecorderObject, vectorcall),
    .tp_members = recorder_members,
    .tp_getset = recorder_getset,
};

static int take(PyObject *names, const char *key, PyObject **slot) {
    PyObject *value = PyDict_GetItemString(names, key);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "configure_pandas: %s is missing", key);
        return -1;
    }
    Py_XSETREF(*slot, Py_NewRef(value));
    return 0;
}

static PyObject *configure_pandas(PyObject *module, PyObject *names) {
    if (!PyDict_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "configure_pandas takes a dict");
        return NULL;
    }
    PyObject *depth = NULL;
    if (take(names, "DataFrame", &frame_type) < 0 || take(names, "Series", &series_type) < 0 ||
        take(names, "ATTRIBUTE", &lineage_attribute) < 0 || take(names, "lineage_table", &lineage_table) < 0 ||
        take(names, "Deferred", &deferred_type) < 0 || take(names, "run_plain_rule", &run_plain_rule) < 0 ||
        take(names, "log", &log_function) < 0 || take(names, "column", &column_rule) < 0 ||
        take(names, "keep_columns", &keep_columns) < 0 || take(names, "filter_by_mask", &filter_by_mask) < 0 ||
        take(names, "series_elementwise", &series_elementwise) < 0 || take(names, "concat_rows", &concat_rows) < 0 ||
        take(names, "per_label_entries", &per_label_entries) < 0 || take(names, "MAX_DEPTH", &depth) < 0 ||
        take(names, "deferred_globals", &deferred_globals) < 0 || take(names, "scoped_run", &scoped_run) < 0 ||
        take(names, "run_globals", &run_globals) < 0 || take(names, "tracked_entry", &tracked_entry_function) < 0) {
        Py_XDECREF(depth);
        return NULL;
    }
    if (!PyDict_CheckExact(deferred_globals) || !PyDict_CheckExact(run_globals) || !PyContextVar_CheckExact(scoped_run) ||
        !PyType_Check(deferred_type)) {
        Py_XDECREF(depth);
        PyErr_SetString(PyExc_TypeError, "configure_pandas: unexpected types for Deferred or the run's namespaces");
        return NULL;
    }
    deferred_offsets[0] = -1;
    Py_ssize_t offsets[SLOT_COUNT];
    int slots_known = 1;
    for (int i = 0; i < SLOT_COUNT && slots_known; i++) {
        PyObject *descr = PyDict_GetItemString(((PyTypeObject *)deferred_type)->tp_dict, deferred_slot_names[i]);
        slots_known = descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                      ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        offsets[i] = slots_known ? ((PyMemberDescrObject *)descr)->d_member->offset : -1;
    }
    if (slots_known) { /* otherwise every thunk goes through Deferred's __init__ */
        memcpy(deferred_offsets, offsets, sizeof(offsets));
    }
    max_depth = PyLong_AsLong(depth);
    Py_DECREF(depth);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyDict_CheckExact(per_label_entries)) {
        PyErr_SetString(PyExc_TypeError, "configure_pandas: per_label_entries must be a dict");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------------ module */

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *call_type, *report, *fault, *safety;
    if (!PyArg_ParseTuple(args, "OOOO!:configure", &call_type, &report, &fault, &PyDict_Type, &safety)) {
        return NULL;
    }
    Py_XSETREF(hooked_call_type, Py_NewRef(call_type));
    Py_XSETREF(report_failure, Py_NewRef(report));
    Py_XSETREF(fault_point, Py_NewRef(fault));
    Py_XSETREF(safety_globals, Py_NewRef(safety));
    Py_RETURN_NONE;
}

static PyObject *configure_chained(PyObject *module, PyObject *args) {
    PyObject *factory;
    Py_ssize_t refs;
    if (!PyArg_ParseTuple(args, "On:configure_chained", &factory, &refs)) {
        return NULL;
    }
    Py_XSETREF(chained_factory, Py_NewRef(factory));
    temporary_refs = refs;
    Py_RETURN_NONE;
}

/* pandas_ops._log, _thunk and _tracked_entry for the recorders that are still Python (positional arguments). */
static int configured(const char *name) {
    if (deferred_type == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s(): configure_pandas() has not been called", name);
        return 0;
    }
    return 1;
}

static int ready(const char *name, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "%s() takes 5 positional arguments (%zd given)", name, nargs);
        return 0;
    }
    return configured(name);
}

static PyObject *py_log_operation(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (!ready("log_operation", nargs)) {
        return NULL;
    }
    return log_operation(args[0], args[1], args[2], args[3], args[4]) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *py_tracked_entry(PyObject *module, PyObject *obj) {
    if (!configured("tracked_entry")) {
        return NULL;
    }
    PyObject *lin, *generation;
    int outcome = tracked_entry(obj, &lin, &generation);
    Py_XDECREF(generation);
    if (outcome == FALL_BACK) { /* relabelled, or an entry of another shape: the Python function decides */
        return PyObject_CallOneArg(tracked_entry_function, obj);
    }
    if (outcome == FAILED) {
        return NULL;
    }
    return lin != NULL ? lin : Py_NewRef(Py_None);
}

static PyObject *py_chained_thunk(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (!ready("chained_thunk", nargs)) {
        return NULL;
    }
    return chained_thunk(args[0], args[1], args[2], args[3], args[4]);
}

#if PY_VERSION_HEX >= 0x030B0000
/* Words left in the current chunk of CPython's frame stack: lets tests check where the CLI runs a script. */
static PyObject *frame_stack_room(PyObject *module, PyObject *unused) {
    PyThreadState *tstate = PyThreadState_Get();
    return PyLong_FromSsize_t((Py_ssize_t)(tstate->datastack_limit - tstate->datastack_top));
}
#endif

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(HookedCall, report_failure, fault_point, safety_namespace): the Python side of recording."},
    {"configure_pandas", configure_pandas, METH_O,
     "configure_pandas(names): pandas' types and pandas_ops' rule functions, for the compiled fast recorders."},
    {"configure_chained", configure_chained, METH_VARARGS,
     "configure_chained(factory, temporary_refs): how a mutator called on a temporary receiver is dispatched."},
    {"log_operation", (PyCFunction)(void (*)(void))py_log_operation, METH_FASTCALL,
     "log_operation(name, before, after, lin_before, lin_after): pandas_ops._log_entry, counting only past the bound."},
    {"tracked_entry", py_tracked_entry, METH_O, "tracked_entry(obj): pandas_ops._tracked_entry_spec."},
    {"chained_thunk", (PyCFunction)(void (*)(void))py_chained_thunk, METH_FASTCALL,
     "chained_thunk(label, fn, args, labels, base): pandas_ops._chained_thunk."},
#if PY_VERSION_HEX >= 0x030B0000
    {"frame_stack_room", frame_stack_room, METH_NOARGS,
     "frame_stack_room(): words left in the current chunk of the frame stack (for tests of the CLI)."},
#endif
    {NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "openlineage_pandas.hooks._speedups",
    .m_doc = "The compiled hot path of hooked calls (optional; pure-Python fallback in _patching.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyTypeObject *types[] = {&GuardType, &SwitchType, &WrapperType, &FunctionProxyType, &HookedMethodType, &ProbeType,
                             &ThenCallType, &RecorderType};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyType_Ready(types[i]) < 0) {
            return NULL;
        }
    }
    str_fault_injection = PyUnicode_InternFromString("fault_injection");
    str_generation = PyUnicode_InternFromString("generation");
    str_columns = PyUnicode_InternFromString("columns");
    str_token = PyUnicode_InternFromString("token");
    str_value = PyUnicode_InternFromString("value");
    str_depth = PyUnicode_InternFromString("depth");
    str_inplace = PyUnicode_InternFromString("inplace");
    str_name = PyUnicode_InternFromString("name");
    str_dtype = PyUnicode_InternFromString("dtype");
    str_force = PyUnicode_InternFromString("force");
    label_column = PyUnicode_InternFromString("DataFrame[column]");
    label_columns = PyUnicode_InternFromString("DataFrame[columns]");
    label_mask = PyUnicode_InternFromString("DataFrame[mask]");
    label_concat = PyUnicode_InternFromString("pandas.concat");
    str_axis = PyUnicode_InternFromString("axis");
    str_ignore_index = PyUnicode_InternFromString("ignore_index");
    str_eager = PyUnicode_InternFromString("eager");
    str_finished = PyUnicode_InternFromString("finished");
    str_process_run = PyUnicode_InternFromString("_process_run");
    str_oplog = PyUnicode_InternFromString("oplog");
    str_full = PyUnicode_InternFromString("full");
    str_skip = PyUnicode_InternFromString("skip");
    if (!str_fault_injection || !str_generation || !str_columns || !str_token || !str_value || !str_depth ||
        !str_inplace || !str_name || !str_dtype || !str_force || !label_column || !label_columns || !label_mask ||
        !label_concat || !str_axis || !str_ignore_index) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    PyObject *guard = PyType_GenericAlloc(&GuardType, 0);
    if (guard == NULL || PyModule_AddObject(module, "guard", guard) < 0) {
        Py_XDECREF(guard);
        Py_DECREF(module);
        return NULL;
    }
    const char *names[] = {"Guard", "TrackingSwitch", "Wrapper", "FunctionProxy", "HookedMethod", "RefcountProbe",
                           "ThenCall", "FastRecorder"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(module);
            return NULL;
        }
    }
    return module;
}
