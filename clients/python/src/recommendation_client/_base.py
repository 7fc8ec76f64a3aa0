"""What the sync and async clients share: settings, requests as data, retry policy."""

from __future__ import annotations

import dataclasses
import random
import sys
import uuid
from typing import Any, Callable, Dict, Generic, Iterable, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union

import httpx

from .models import BulkResult

T = TypeVar("T")

DEFAULT_BASE_URL = "http://localhost:8080"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_CHUNK_SIZE = 1000
RETRY_STATUSES = frozenset({429, 502, 503, 504})

try:  # the package's version, for the User-Agent
    from importlib.metadata import version as _version

    __version__ = _version("recommendation-engine-client")
except Exception:  # pragma: no cover - not installed
    __version__ = "0"

ProgressCallback = Callable[[int, BulkResult], None]
TimeoutTypes = Union[float, httpx.Timeout, None]


@dataclasses.dataclass
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Optional[Dict[str, Any]] = None
    json: Any = None
    tenant_id: Optional[str] = None
    # True when sending it twice has the effect of sending it once.
    idempotent: bool = False

    def __post_init__(self) -> None:
        if self.method in ("GET", "PUT", "DELETE", "HEAD"):
            self.idempotent = True
        if self.params is not None:
            self.params = {k: _param(v) for k, v in self.params.items() if v is not None}


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return value


def nothing(_: Any) -> None:
    return None


def as_dict(data: Any) -> Dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {}


class BaseClient:
    """Settings of a client. See ``RecommendationClient`` for the arguments."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: Optional[str] = None,
        *,
        tenant_id: Optional[str] = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_factor: float = 0.5,
        max_backoff: float = 30.0,
        bulk_chunk_size: int = DEFAULT_CHUNK_SIZE,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if bulk_chunk_size < 1:
            raise ValueError("bulk_chunk_size must be 1 or more")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.tenant_id = tenant_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.max_backoff = max_backoff
        self.bulk_chunk_size = bulk_chunk_size
        self._default_headers: Dict[str, str] = {
            "User-Agent": f"recommendation-engine-client/{__version__} "
            f"python/{sys.version_info[0]}.{sys.version_info[1]}",
            "Accept": "application/json",
        }
        if api_key:
            self._default_headers["X-API-Key"] = api_key
        if headers:
            self._default_headers.update(headers)

    def _headers(self, call: Call[Any]) -> Dict[str, str]:
        tenant = call.tenant_id if call.tenant_id is not None else self.tenant_id
        return {"X-Tenant-ID": tenant} if tenant else {}

    def _build_request(self, http: Union[httpx.Client, httpx.AsyncClient], call: Call[Any]) -> httpx.Request:
        return http.build_request(
            call.method,
            call.path,
            params=call.params,
            json=call.json,
            headers=self._headers(call),
        )

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential with
        jitter (half to all of it), or the server's Retry-After when it gave one."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff) + random.uniform(0, 0.1)
        full = min(self.max_backoff, self.backoff_factor * (2 ** (attempt - 1)))
        return random.uniform(full / 2, full)

    def _chunk_size(self, chunk_size: Optional[int]) -> int:
        size = self.bulk_chunk_size if chunk_size is None else chunk_size
        if size < 1:
            raise ValueError("chunk_size must be 1 or more")
        return size


def chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[List[Dict[str, Any]]]:
    chunk: List[Dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def with_event_ids(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Give every interaction row without one an ``event_id``, so a retried bulk
    request stores nothing twice."""
    for row in rows:
        if not row.get("event_id"):
            row["event_id"] = str(uuid.uuid4())
    return rows


class Progress:
    """Reports an import's progress to a callback and, when tqdm is importable and
    ``bar`` is not False, to a progress bar."""

    def __init__(
        self, rows: Iterable[Any], callback: Optional[ProgressCallback], bar: Optional[bool], what: str
    ) -> None:
        self.callback = callback
        self._bar: Any = None
        if bar is not False:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError:
                tqdm = None
            if tqdm is not None:
                total = len(rows) if hasattr(rows, "__len__") else None  # type: ignore[arg-type]
                self._bar = tqdm(total=total, unit=" rows", desc=what)

    def update(self, done: int, rows: int, report: BulkResult) -> None:
        if self._bar is not None:
            self._bar.update(rows)
        if self.callback is not None:
            self.callback(done, report)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def split_filters(filters: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    return {f"filter.{k}": _param(v) for k, v in (filters or {}).items()}


def page_params(limit: int, offset: int) -> Tuple[int, int]:
    if not 1 <= limit <= 1000:
        raise ValueError("page size must be 1 to 1000")
    return limit, offset
