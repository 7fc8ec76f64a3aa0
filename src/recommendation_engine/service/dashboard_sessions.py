"""Sign-in sessions of the dashboard.

A browser signs in with an API key and gets a random session token in a cookie. Only
digests are stored: the token's (to find the session) and the key's (to check, on every
request, that the key still works: a revoked key ends its sessions at once). Each
session has its own CSRF token, which every form that changes something sends back.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from recommendation_engine.service.tenants import ADMIN, Principal, TenantService, hash_key
from recommendation_engine.storage import dashboard as repo


@dataclass(frozen=True, slots=True)
class DashboardSession:
    principal: Principal
    csrf_token: str
    expires_at: datetime


class DashboardSessions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        tenants: TenantService,
        admin_key: str | None,
        require_key: bool,
        lifetime: timedelta,
    ) -> None:
        self._pool = pool
        self._tenants = tenants
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._require_key = require_key
        self.lifetime = lifetime

    async def sign_in(self, key: str) -> tuple[str, DashboardSession] | None:
        """A new session for ``key``, and its token; None for a key that does not work."""
        principal = await self._tenants.authenticate(key) if key else None
        if principal is None:
            if self._require_key:
                return None
            principal = ADMIN  # as the API treats requests without authentication
        token = secrets.token_urlsafe(32)
        session = DashboardSession(
            principal, secrets.token_urlsafe(32), datetime.now(UTC) + self.lifetime
        )
        async with self._pool.acquire() as conn:
            await repo.create_session(
                conn,
                hash_key(token),
                hash_key(key),
                principal.tenant_id,
                session.csrf_token,
                session.expires_at,
            )
        return token, session

    async def resolve(self, token: str) -> DashboardSession | None:
        """The live session of ``token``: unexpired, its key still valid."""
        async with self._pool.acquire() as conn:
            row = await repo.find_session(conn, hash_key(token))
            if row is None:
                return None
            principal = self._principal(row)
            if principal is None:
                await repo.delete_session(conn, hash_key(token))
                return None
        return DashboardSession(principal, row.csrf_token, row.expires_at)

    def _principal(self, row: repo.SessionRow) -> Principal | None:
        if self._admin_hash is not None and hmac.compare_digest(row.key_hash, self._admin_hash):
            return ADMIN
        if row.key_found:
            return Principal(row.key_tenant_id)
        return None if self._require_key else ADMIN

    async def sign_out(self, token: str) -> None:
        async with self._pool.acquire() as conn:
            await repo.delete_session(conn, hash_key(token))
