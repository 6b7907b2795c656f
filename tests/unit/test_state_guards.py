"""Every state event handler that touches private data refuses callers without a
session, and admin handlers refuse members. Handlers are discovered, not listed,
so a new handler without a check fails here."""

from __future__ import annotations

import inspect
import os

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import llmcoder_app.llmcoder_app  # noqa: F401  (registers every page and state)
from services.auth import sessions
from services.auth.errors import AccessDenied
from state.auth import AuthState
from state.docs_sources import DocsSourcesState
from state.jobs import JobsState
from state.llm_config import LLMConfigState
from state.llm_costs import CostsState
from state.llm_learned import LearnedState
from state.llm_logs import LogsState
from state.llm_prompts import LLMPromptsState
from state.session import SessionState
from state.settings import SettingsState
from state.status import StatusState
from state.users import UsersState
from tests.llm_support import run_async

# Handlers a signed-out visitor must be able to call.
PUBLIC = {(AuthState, name) for name in ("load_login", "load_setup", "create_first_admin", "sign_in", "sign_out")}
# States whose every handler is admin-only, plus single admin handlers elsewhere.
ADMIN_STATES = (UsersState, SettingsState, StatusState, CostsState, LogsState, LLMConfigState,
                LLMPromptsState, LearnedState)
ADMIN_HANDLERS = {(JobsState, "toggle_all"), (DocsSourcesState, "add_folder")}
_DUMMY = {str: "1", bool: True, int: 1, dict: {}, float: 1.0}


def _state_classes() -> list[type[SessionState]]:
    found, todo = [], [SessionState]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("state."):
                found.append(sub)
                todo.append(sub)
    return found


def _handlers() -> list[tuple[type[SessionState], str]]:
    pairs = []
    for cls in _state_classes():
        for name in cls.event_handlers:
            if name == "setvar" or (cls, name) in PUBLIC:
                continue
            pairs.append((cls, name))
    return sorted(pairs, key=lambda p: (p[0].__name__, p[1]))


def _instance(cls: type[SessionState], token: str) -> SessionState:
    """A state as the app builds it for a websocket whose handshake carried this cookie."""
    os.environ.setdefault("PYTEST_CURRENT_TEST", "guards")
    root = rx.State(_reflex_internal_init=True)
    cookie = f"theme=dark; {sessions.SESSION_COOKIE}={token}" if token else "theme=dark"
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}})
    return root.get_substate(cls.get_full_name().split("."))


def _call(cls: type[SessionState], name: str, token: str):
    fn = cls.event_handlers[name].fn
    params = list(inspect.signature(fn).parameters.values())[1:]
    hints = {p.name: _DUMMY.get(eval(p.annotation) if isinstance(p.annotation, str) else p.annotation, "1")
             for p in params if p.default is inspect.Parameter.empty}
    result = fn(_instance(cls, token), **hints)
    # A handler's check runs only when its body does: drive coroutines and generators to the
    # end (run_async: a browser test may have left an event loop running in this thread).
    if inspect.iscoroutine(result):
        return run_async(result)
    if inspect.isasyncgen(result):
        return run_async(_drain(result))
    if inspect.isgenerator(result):
        return list(result)
    return result


async def _drain(generator) -> list:
    return [item async for item in generator]


def test_discovery_finds_every_page_state():
    names = {cls.__name__ for cls in _state_classes()}
    assert {"AuthState", "ShellState", "JobsState", "UsersState", "SettingsState", "StatusState",
            "AccountState", "NotificationsState", "HomeState"} <= names
    assert len(_handlers()) > 25


@pytest.mark.parametrize(("cls", "name"), _handlers(), ids=lambda v: getattr(v, "__name__", v))
def test_handler_refuses_without_a_session(db, cls, name):
    with pytest.raises(AccessDenied) as refused:
        _call(cls, name, token="")
    assert not refused.value.signed_in


@pytest.mark.parametrize(("cls", "name"), _handlers(), ids=lambda v: getattr(v, "__name__", v))
def test_handler_refuses_a_forged_token(db, cls, name):
    with pytest.raises(AccessDenied):
        _call(cls, name, token="forged-token-that-was-never-issued")


_ADMIN_ONLY = [(c, n) for c, n in _handlers() if c in ADMIN_STATES or (c, n) in ADMIN_HANDLERS]
_MEMBER_OK = [(c, n) for c, n in _handlers() if (c, n) not in _ADMIN_ONLY]


@pytest.mark.parametrize(("cls", "name"), _ADMIN_ONLY, ids=lambda v: getattr(v, "__name__", v))
def test_admin_handler_refuses_a_member(make_user, cls, name):
    make_user("member@example.com")
    token, _ = sessions.sign_in("member@example.com", "correct horse 1")
    with pytest.raises(AccessDenied) as refused:
        _call(cls, name, token=token)
    assert refused.value.signed_in


@pytest.mark.parametrize(("cls", "name"), _ADMIN_ONLY, ids=lambda v: getattr(v, "__name__", v))
def test_admin_handler_admits_an_admin(make_user, cls, name):
    """The other side of the refusal: the check is about the role, not a blanket 'no'."""
    make_user("admin@example.com", role="admin")
    token, _ = sessions.sign_in("admin@example.com", "correct horse 1")
    try:
        _call(cls, name, token=token)
    except AccessDenied as exc:
        pytest.fail(f"{cls.__name__}.{name} refused an admin: {exc}")
    except Exception:
        pass  # dummy arguments may be meaningless to the handler; only the access check matters here


@pytest.mark.parametrize(("cls", "name"), _MEMBER_OK, ids=lambda v: getattr(v, "__name__", v))
def test_member_handler_admits_a_member(make_user, cls, name):
    make_user("member@example.com")
    token, _ = sessions.sign_in("member@example.com", "correct horse 1")
    try:
        _call(cls, name, token=token)
    except AccessDenied as exc:
        pytest.fail(f"{cls.__name__}.{name} refused a member: {exc}")
    except Exception:
        pass


def test_signed_out_session_is_refused(make_user):
    make_user("member@example.com")
    token, _ = sessions.sign_in("member@example.com", "correct horse 1")
    _call(JobsState, "load", token=token)
    sessions.sign_out(token)
    with pytest.raises(AccessDenied):
        _call(JobsState, "load", token=token)
