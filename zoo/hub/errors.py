"""The errors of :mod:`zoo.hub`, and the one place where huggingface_hub and network exceptions become them.

Every failure a user can meet while loading or publishing weights is a :class:`HubError` (a
:class:`zoo.errors.UserError`, so the CLI prints one sentence and exits with status 2): an unknown repo or
revision, a missing file, offline mode with nothing cached, truncated or tampered weights, a config naming an
unknown architecture, and a config or weights that do not fit the model the registry builds. A Hub that cannot be
reached (refused, unresolvable, timed out) is a :class:`HubConnectionError`: a HubError too, but also a
:class:`zoo.errors.NetworkFailure`, so the CLI exits with status 1 (the environment's fault, not the input's).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from zoo.errors import NetworkFailure, UserError

__all__ = ["HubError", "RepoNotFoundError", "WeightsNotFoundError", "HubUnreachableError", "HubConnectionError",
           "IntegrityError", "UnknownArchitectureError", "ContractMismatchError", "hub_errors"]


class HubError(UserError):
    """A model folder or published weight cannot be found, fetched, trusted or built."""


class RepoNotFoundError(HubError):
    """The Hub repo (or the revision asked for) does not exist, or is private and no token was given."""


class WeightsNotFoundError(HubError):
    """The folder or repo exists but lacks a file a model needs."""


class HubUnreachableError(HubError):
    """The Hub may not be used (offline mode) or cannot be reached (:class:`HubConnectionError`) and the file is
    not in the cache."""


class HubConnectionError(HubUnreachableError, NetworkFailure):
    """The Hub's host refused the connection, could not be resolved, timed out or hung up (not offline mode)."""


class IntegrityError(HubError):
    """The weights file is truncated, corrupt or differs from the recorded sha256."""


class UnknownArchitectureError(HubError):
    """config.json names an architecture this version of genozoo does not have."""


class ContractMismatchError(HubError):
    """config.json or the weights do not fit the model the registry builds."""


# ------------------------------------------------------------------------------------- Hub downloads
def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for mod in ("httpx2", "httpx", "requests"):
        try:
            m = __import__(mod)
        except ImportError:
            continue
        errors.append(getattr(m, "TransportError", None) or m.RequestException)
    return tuple(errors)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


class _RetryNotice(logging.Filter):
    """Stands in for huggingface_hub's own lines while it retries a Hub that does not answer (two lines an attempt,
    five attempts over about 25 s, each naming the URL and the exception): one line of ours, once."""

    def __init__(self, endpoint: str, upload: bool):
        super().__init__()
        self.endpoint, self.upload, self.said = endpoint, upload, False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Retrying in" not in message and "thrown while requesting" not in message:
            return True
        if not self.said:
            self.said = True
            logging.getLogger("zoo.hub").warning(
                "genozoo: %s does not answer; retrying for about 25 s%s", self.endpoint,
                "" if self.upload else " (HF_HUB_OFFLINE=1 uses only the cache)")
        return False


@contextmanager
def hub_errors(repo_id: str, filename: str | None = None, revision: str | None = None,
               repo_type: str = "model", upload: bool = False) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions into one-sentence :class:`HubError` s; while the client retries
    a Hub that does not answer, say so in one line instead of its ten. ``upload``: the block pushes, so a lost
    connection gets no advice about cached downloads."""
    from huggingface_hub import constants
    from huggingface_hub import errors as e

    what = f"{repo_type} repo {repo_id!r}" + (f" at revision {revision!r}" if revision else "")
    retries = logging.getLogger("huggingface_hub.utils._http")  # where its back-off logs each attempt
    notice = _RetryNotice(constants.ENDPOINT, upload)
    retries.addFilter(notice)
    try:
        yield
    except e.HFValidationError as err:
        raise RepoNotFoundError(f"{repo_id!r} is not a valid Hub repo id ({str(err).splitlines()[0].rstrip('.')}); "
                                f"give ORG/NAME with letters, digits, '-', '_' and '.'") from err
    except e.RevisionNotFoundError as err:
        raise RepoNotFoundError(f"the {what} does not exist on {constants.ENDPOINT}; check the revision "
                                f"(a branch, tag or commit of the repo)") from err
    except e.RepositoryNotFoundError as err:
        raise RepoNotFoundError(f"the {repo_type} repo {repo_id!r} does not exist on {constants.ENDPOINT} (or is "
                                f"private and no token is set); check the name or set HF_TOKEN") from err
    except e.RemoteEntryNotFoundError as err:
        raise WeightsNotFoundError(f"the {what} has no file {filename!r}; is it a genozoo model repo?") from err
    except (e.LocalEntryNotFoundError, e.OfflineModeIsEnabled) as err:
        offline = _offline()  # the user's setting (status 2); otherwise the network failed (status 1)
        why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else f"{constants.ENDPOINT} cannot be reached"
        error = HubUnreachableError if offline else HubConnectionError
        raise error(f"{why} and {filename or 'the files'} of the {what} is not in the cache; connect to the network "
                    f"once, or point GENOZOO_HUB_DIR at a folder holding the model") from err
    except e.HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", "?")
        raise HubError(f"the Hub answered HTTP {status} for the {what}: {str(err).splitlines()[0]}; check "
                       f"the name and your token (HF_TOKEN)") from err
    except ValueError as err:
        if not str(err).startswith("Invalid metadata in README.md"):  # huggingface_hub's word for a Hub refusal
            raise
        problems = "; ".join(ln.lstrip("- ").strip() for ln in str(err).splitlines()[1:] if ln.strip())
        raise HubError(f"the Hub refuses the metadata of the card (README.md) of the {what}"
                       f"{f' ({problems})' if problems else ''}; fix its YAML header") from err
    except _network_errors() as err:
        advice = ("pushing to the {what}; check the network and HF_ENDPOINT" if upload else
                  "fetching the {what}; check the network or use HF_HUB_OFFLINE=1 with a cached or bundled model")
        raise HubConnectionError(f"{constants.ENDPOINT} cannot be reached or dropped the connection "
                                 f"({type(err).__name__}) while {advice.format(what=what)}") from err
    finally:
        retries.removeFilter(notice)


