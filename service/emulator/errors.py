"""CodeDeploy's errors, as the emulator answers them."""


class AwsError(Exception):
    """An error answer: ``__type`` and ``message`` in the body, like CodeDeploy's."""

    def __init__(self, type_: str, message: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
