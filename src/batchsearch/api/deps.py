"""Request dependencies shared by the routes: the caller's identity and the app's services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from batchsearch.errors import AuthenticationError, PermissionDeniedError
from batchsearch.keys import KeyStore, Principal


def get_key_store(request: Request) -> KeyStore:
    """The app's key store."""
    store: KeyStore = request.app.state.keys
    return store


async def require_principal(
    request: Request,
    x_api_key: Annotated[str | None, Header(alias="X-API-KEY", description="Your API key.")] = None,
) -> Principal:
    """Authenticate the X-API-KEY header (any case) on every request: 401 when missing, 403 when unknown or
    revoked (no cache: a revoked key is refused from the next request on)."""
    if not x_api_key:
        raise AuthenticationError("Missing API key: send it in the X-API-KEY header")
    principal = get_key_store(request).get_principal(x_api_key.strip())
    if principal is None:
        raise PermissionDeniedError("Invalid API key")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
