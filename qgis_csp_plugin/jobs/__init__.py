"""The runs shared by the dialogs (in QgsTasks) and Processing: ``prepare(request) -> job`` on the main
thread, ``job.execute(progress, canceled)`` in any thread."""
