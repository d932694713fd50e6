import nova.tests.functional  # noqa: F401 (nova's eventlet monkey patching)
