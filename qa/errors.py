"""Domain errors. Messages name the fix; the service maps each class to an HTTP status once."""


class ArticleQAError(Exception):
    """Base class for errors a caller can act on."""


class EmptyArticleError(ArticleQAError):
    """The input has no readable sentence."""


class ArticleTooLargeError(ArticleQAError):
    """The input is larger than the configured limit."""


class ArticleNotFoundError(ArticleQAError, LookupError):
    """No article with this id is stored."""


class IndexMismatchError(ArticleQAError):
    """A stored index was built differently from what this process expects."""


class StoreUnavailableError(ArticleQAError):
    """The article database cannot be reached now (a server that is down or overloaded)."""
