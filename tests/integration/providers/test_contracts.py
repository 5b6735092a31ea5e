"""Contract tests: every row of every provider document, answered by the simulator's personality
of that provider, read by its adapter over real HTTP, gives the documented meaning.

The rows name the document they come from. The coverage tests at the end read the documents in
``shared/providers/`` and fail when a status or an error code they name has no row here.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from dispatcher.config.settings import Settings
from dispatcher.sending.loop_thread import LoopThread
from providers.base import OutboundSms, Provider
from providers.outcome import OutcomeKind, Scope
from providers.registry import build_provider
from providers.simulator import ScriptedAnswer
from providers.transport import SendOutcome, send_through
from tests.conftest import RunningSimulator
from tests.integration.providers.test_simulator import call, sinch
from tests.unit.providers.test_classification import _STATUS_IN_DOC, PROVIDER_DOCS

A, R, AMB, REJ, PE = (
    OutcomeKind.ACCEPTED,
    OutcomeKind.RETRYABLE,
    OutcomeKind.AMBIGUOUS,
    OutcomeKind.REJECTED,
    OutcomeKind.PROVIDER_ERROR,
)
MSG, PRV = Scope.MESSAGE, Scope.PROVIDER

DOCUMENTS = {"000": "gosms", "001": "sinch", "002": "yellowpush", "003": "cecula", "004": "sinch"}


@dataclass(frozen=True, slots=True)
class Row:
    """One documented answer: the provider says ``status`` (with its own ``code``); we must read
    ``kind`` (``scope``), and for a success, a provider message id when ``with_id``."""

    document: str  # "000" .. "004", or "API.md"
    provider: str
    status: int
    code: str | int | None
    kind: OutcomeKind
    scope: Scope | None = None
    with_id: bool = True

    def script(self) -> ScriptedAnswer:
        if self.kind is A or (self.status == 204 and self.code is None):
            return ScriptedAnswer(success=True, success_status=self.status)
        return ScriptedAnswer(status=self.status, code=self.code)

    def __str__(self) -> str:
        return f"{self.provider}-{self.document}-{self.status}-{self.code}"


def _rows(document: str, provider: str, *specs: tuple[object, ...]) -> list[Row]:
    return [Row(document, provider, *spec) for spec in specs]  # type: ignore[arg-type]


ROWS: list[Row] = [
    # GoSMS, 000_* (statuses) and API.md (error codes; the status that goes with a code is not
    # documented, so each code is sent with the status a client would most likely meet).
    *_rows(
        "000",
        "gosms",
        (200, None, A),
        (201, None, A),
        (204, None, A, None, False),  # success, no content: accepted, nothing to read
        (400, 2001, REJ, MSG),
        (401, 1000, PE, PRV),
        (403, 1005, PE, PRV),
        (404, 1000, PE, PRV),
        (429, 1000, R, PRV),
        (500, 1000, R, PRV),
    ),
    *_rows(
        "API.md",
        "gosms",
        (400, 1000, REJ, MSG),  # "unknown error": the status decides
        (400, 1001, REJ, MSG),
        (403, 1002, PE, PRV),
        (403, 1003, PE, PRV),
        (403, 1004, PE, PRV),
        (403, 1005, PE, PRV),
        (403, 1006, PE, PRV),
        (403, 1015, PE, PRV),
        (403, 1016, PE, PRV),
        (400, 1017, PE, PRV),
        (400, 2001, REJ, MSG),
        (400, 2002, REJ, MSG),
        (400, 2004, PE, PRV),
        (400, 2005, PE, PRV),
        (400, 2008, PE, PRV),
        (403, 3000, PE, PRV),
        (500, 2001, R, PRV),  # a 5xx is the provider's fault, whatever the code says
    ),
    # Sinch, 001_* and 004_* (the same statuses; 004 adds the 403 codes' descriptions).
    *[
        row
        for document in ("001", "004")
        for row in _rows(
            document,
            "sinch",
            (200, None, A),
            (201, None, A),
            (400, "syntax_invalid_json", REJ, MSG),
            (400, "syntax_invalid_parameter_format", REJ, MSG),
            (400, "syntax_constraint_violation", REJ, MSG),
            (401, None, PE, PRV),
            (403, "unknown_group", PE, PRV),
            (403, "unknown_campaign", PE, PRV),
            (403, "missing_callback_url", PE, PRV),
            (403, "blocked_account", PE, PRV),
            (403, "illegal_number_type", REJ, MSG),
            (404, None, PE, PRV),  # no body
            (405, None, PE, PRV),
            (415, None, PE, PRV),
            (429, None, R, PRV),
            (500, None, R, PRV),
            (503, None, R, PRV),
        )
    ],
    # YellowPush, 002_*: code 1 is the request's fault, code 2 the system's; 401 even after a
    # fresh token is about our account.
    *_rows(
        "002",
        "yellowpush",
        (200, None, A),
        (400, 1, REJ, MSG),
        (400, 2, R, PRV),
        (401, None, PE, PRV),
    ),
    # Cecula, 003_* (statuses) and API.md (the codes inside the body, which is the truth).
    *_rows(
        "003",
        "cecula",
        (200, None, A),
        (201, None, A),
        (202, None, A),
        (204, None, A, None, False),
        (400, None, REJ, MSG),
        (401, None, PE, PRV),
        (403, None, PE, PRV),
        (404, None, PE, PRV),
        (405, None, PE, PRV),
        (409, None, REJ, MSG),
        (429, None, R, PRV),
        (500, None, R, PRV),
        (502, None, R, PRV),
        (503, None, R, PRV),
        (504, None, R, PRV),
        (523, None, R, PRV),
    ),
    *_rows(
        "API.md",
        "cecula",
        (200, 4001, PE, PRV),
        (200, 1807, PE, PRV),
        (200, 4002, PE, PRV),
        (200, 4003, PE, PRV),
        (200, 4004, PE, PRV),
        (200, 1804, PE, PRV),
        (200, 1806, REJ, MSG),
        (200, 1808, REJ, MSG),
        (200, 1809, REJ, MSG),
        (200, 1902, REJ, MSG),
        (200, 1903, REJ, MSG),
        (200, 6000, REJ, MSG),
        (200, 6001, REJ, MSG),
        (200, 6002, REJ, MSG),
        (400, 4001, PE, PRV),
        (400, 1806, REJ, MSG),
        (200, 9999, REJ, MSG),  # an unknown code inside a 200 is not "sent"
    ),
    # Twilio, API.md and the Messages API reference.
    *_rows(
        "API.md",
        "twilio",
        (201, None, A),
        (400, 21211, REJ, MSG),
        (400, 21602, REJ, MSG),
        (400, 21610, REJ, MSG),
        (400, 21612, REJ, MSG),
        (400, 21614, REJ, MSG),
        (400, 21617, REJ, MSG),
        (400, 21408, PE, PRV),
        (400, 21603, PE, PRV),
        (400, 21606, PE, PRV),
        (400, 21659, PE, PRV),
        (401, 20003, PE, PRV),
        (404, 20404, PE, PRV),
        (429, 20429, R, PRV),
        (500, None, R, PRV),
        (503, None, R, PRV),
    ),
    # Vonage, API.md: always 200, the status inside decides.
    *_rows(
        "API.md",
        "vonage",
        (200, None, A),
        (200, "1", R, PRV),
        (200, "2", REJ, MSG),
        (200, "3", REJ, MSG),
        (200, "4", PE, PRV),
        (200, "5", R, PRV),
        (200, "6", REJ, MSG),
        (200, "7", REJ, MSG),
        (200, "8", PE, PRV),
        (200, "9", PE, PRV),
        (500, None, R, PRV),
    ),
]

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread("contract-loop")
    yield thread
    thread.stop()


@pytest.fixture
def adapters(settings: Settings) -> dict[str, Provider]:
    """The configured adapters, pointed at the simulator by ``stack_env``."""
    return {
        name: build_provider(name, p.kind, p.options()) for name, p in settings.providers.items()
    }


def send(loop_thread: LoopThread, provider: Provider, to: str) -> SendOutcome:
    sms = OutboundSms(
        message_id=f"01CONTRACT{next(_numbers):016d}",
        to_e164=to,
        body="contract",
        sender=None,
        encoding="GSM-7",
        segments=1,
    )

    async def run() -> SendOutcome:
        async with aiohttp.ClientSession() as session:
            return await send_through(session, provider, sms)

    return loop_thread.run(run(), timeout_s=30)


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_documented_answer(
    row: Row,
    simulator: RunningSimulator,
    adapters: dict[str, Provider],
    loop_thread: LoopThread,
) -> None:
    """The personality answers the documented row; the adapter reads its documented meaning."""
    to = f"+4670{next(_numbers):07d}"
    repeat = row.provider == "yellowpush" and row.status == 401  # refused after the refresh too
    simulator.state.script(to, [row.script()], repeat_last=repeat)
    outcome = send(loop_thread, adapters[row.provider], to)
    received = simulator.requests_for(to)
    assert received, "the send did not reach the simulator"
    assert received[-1]["status"] == row.status
    verdict = outcome.verdict
    assert (verdict.kind, verdict.scope) == (row.kind, row.scope)
    if row.kind is A and row.with_id:
        assert verdict.provider_message_id == received[-1]["provider_message_id"]
    if row.code is not None and row.kind is not A:
        assert verdict.provider_code == str(row.code)


def test_sinch_404_has_no_body(simulator: RunningSimulator) -> None:
    """Sinch documents its 404 without a body; the personality answers exactly that."""
    simulator.state.script("+46700000404", [ScriptedAnswer(status=404)])
    assert sinch(simulator, {"to": ["+46700000404"], "body": "x"}) == (404, b"")


def test_yellowpush_token_is_cached_and_refreshed_once(
    simulator: RunningSimulator, adapters: dict[str, Provider], loop_thread: LoopThread
) -> None:
    """YellowPush: one /auth for many sends; after the token expires, one new /auth, once."""
    provider = adapters["yellowpush"]
    for n in range(3):
        assert send(loop_thread, provider, f"+5731950000{n:02d}").verdict.kind is A
    assert simulator.state.sessions_issued["yellowpush"] == 1
    status, body = call(f"{simulator.url}/_sim/expire-tokens", {})
    assert status == 200
    assert json.loads(body)["expired"] >= 1
    outcome = send(loop_thread, provider, "+573195000099")
    assert outcome.verdict.kind is A
    assert simulator.state.sessions_issued["yellowpush"] == 2
    assert [r["status"] for r in simulator.requests_for("+573195000099")] == [200]


# --- coverage: every row of every document has a test above ----------------------------------

_SINCH_CODE = re.compile(
    r"\b(syntax_[a-z_]+|unknown_(?:group|campaign)|missing_callback_url|blocked_account|"
    r"illegal_number_type)\b"
)

needs_docs = pytest.mark.skipif(
    not PROVIDER_DOCS.is_dir(), reason="shared/providers is not beside this checkout"
)


def _covered(document: str, provider: str) -> tuple[set[int], set[str]]:
    rows = [r for r in ROWS if r.document == document and r.provider == provider]
    return {r.status for r in rows}, {str(r.code) for r in rows if r.code is not None}


def _section(title: str) -> str:
    text = (PROVIDER_DOCS / "API.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


@needs_docs
@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_every_documented_status_has_a_contract_row(document: str) -> None:
    """Each status code a provider's status page names has a row for that provider."""
    (path,) = PROVIDER_DOCS.glob(f"{document}_*.txt")
    text = path.read_text(encoding="utf-8")
    documented = {int(code) for code in _STATUS_IN_DOC.findall(text)}
    statuses, codes = _covered(document, DOCUMENTS[document])
    assert documented, f"no status found in {path.name}"
    assert documented <= statuses, f"no contract row for {sorted(documented - statuses)}"
    if DOCUMENTS[document] == "sinch":
        sinch_codes = set(_SINCH_CODE.findall(text))
        assert sinch_codes <= codes, f"no contract row for {sorted(sinch_codes - codes)}"


@needs_docs
@pytest.mark.parametrize(
    ("title", "provider", "pattern"),
    [
        ("GoSMS", "gosms", r"\b([123]\d{3})\b"),
        ("Cecula", "cecula", r"\b(1[89]\d\d|4\d{3}|6\d{3})\b"),
        ("YellowPush", "yellowpush", r'"code": (\d) \(|\| (\d) \('),
        ("Twilio", "twilio", r"\b(2\d{4})\b"),
        ("Vonage", "vonage", r"(?:^|[;:,(] ?)\"?(\d)\"? [a-z]"),
    ],
)
def test_every_code_in_the_api_notes_has_a_contract_row(
    title: str, provider: str, pattern: str
) -> None:
    """Each provider error code API.md names has a row (Sinch's are checked on its own pages)."""
    section = _section(title)
    found = {
        match if isinstance(match, str) else "".join(match)
        for match in re.findall(pattern, section, flags=re.MULTILINE)
    }
    if title == "Cecula":
        found.discard("1801")  # the success code: the 200 rows
        found.add("6001")  # written as a range, "6000-6002"
    _, codes = _covered("API.md", provider)
    _, page_codes = _covered("002", provider)
    assert found, f"no code found in the {title} section"
    assert found <= codes | page_codes, f"no contract row for {sorted(found - codes - page_codes)}"
