"""The one exception the lab raises."""


class LabError(RuntimeError):
    """The lab could not be brought up, changed or torn down.

    The message is always a single line naming the cause, so that a test
    failing on it (and the CLI printing it) says what went wrong without a
    traceback: e.g. "dockerd of m2 exited during start-up: ...last log lines".
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class LabAborted(LabError):
    """A node's bring-up stopped because another node failed (or Ctrl-C): not a cause."""
