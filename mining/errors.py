"""Errors of the miner; messages say what was being fetched and never contain a token."""


class MineError(Exception):
    """A request or a response failed for good."""


class MalformedResponse(MineError):
    """The server answered with something that is not the JSON the endpoint promises."""


class NotFound(MineError):
    """404/410/422: the object does not exist, was deleted (410), or is not visible to the token."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


class Moved(MineError):
    """A 301 that would have dropped the query: the repository was renamed or transferred."""
