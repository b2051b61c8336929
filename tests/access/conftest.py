from collections.abc import Callable, Iterator

import pytest

from access import browser, keys


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Verified keys and Host verdicts are cached per process: every test starts (and ends) clean."""
    keys.clear_cache()
    browser.clear_host_verdicts()
    yield
    keys.clear_cache()
    browser.clear_host_verdicts()


@pytest.fixture
def auth_mode(settings) -> Callable[[str], None]:  # type: ignore[no-untyped-def]
    def switch(mode: str) -> None:
        settings.MODELHUB_AUTH = mode

    return switch


@pytest.fixture
def make_key(db) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    counter = iter(range(10_000))

    def make(*scopes: str, **options: object) -> str:
        return keys.key_create(
            name=f"key-{next(counter)}-{'-'.join(scopes)}", scopes=scopes, **options
        ).secret  # type: ignore[arg-type]

    return make
