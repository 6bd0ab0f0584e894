from typing import Any

class Maker:
    def __init__(
        self, cls: type, names: tuple[str, ...], defaults: tuple[Any, ...], missing: object
    ) -> None: ...
    def __call__(self, **kwargs: Any) -> Any: ...
