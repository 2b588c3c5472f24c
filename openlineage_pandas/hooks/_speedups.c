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

static PyObject *wrapper_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    WrapperObject *self = (WrapperObject *)op;
    if (guard_depth || !self->is_active->on) {
        return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    }
    guard_depth++;
    PyObject *result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    if (result != NULL && wrapper_record(self, args, PyVectorcall_NARGS(nargsf), kwnames, result) < 0) {
        Py_CLEAR(result);
    }
    guard_depth--;
    return result;
}

static PyObject *wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"name", "original", "recorder", "is_active", "target_position", "fast", NULL};
    PyObject *name, *original, *recorder, *is_active, *target_position, *fast = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOOO!O!|O:Wrapper", keywords, &name, &original, &recorder,
                                     &SwitchType, &is_active, &PyLong_Type, &target_position, &fast)) {
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

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(HookedCall, report_failure, fault_point, safety_namespace): the Python side of recording."},
    {"configure_chained", configure_chained, METH_VARARGS,
     "configure_chained(factory, temporary_refs): how a mutator called on a temporary receiver is dispatched."},
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
    PyTypeObject *types[] = {&GuardType, &SwitchType, &WrapperType, &HookedMethodType, &ProbeType};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyType_Ready(types[i]) < 0) {
            return NULL;
        }
    }
    str_fault_injection = PyUnicode_InternFromString("fault_injection");
    if (str_fault_injection == NULL) {
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
    const char *names[] = {"Guard", "TrackingSwitch", "Wrapper", "HookedMethod", "RefcountProbe"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(module);
            return NULL;
        }
    }
    return module;
}
