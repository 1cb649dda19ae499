"""One case against the engine's inputs: its `input.review`, whether the constraint matches, its assertions."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from scanner.engine.match import Undecided, matches
from scanner.engine.review import review
from scanner.engine.templates import Constraint
from scanner.verify.results import FAIL, CaseError, CaseResult


def _admission_request(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An AdmissionReview's request as `input.review` and the objects matching is tried on."""
    request = obj.get("request")
    if not isinstance(request, dict):
        raise CaseError("request did not actually pass in an AdmissionRequest")
    if request.get("object") is None and request.get("oldObject") is None:
        raise CaseError('AdmissionRequest does not contain an "object" or "oldObject" to review')
    req = copy.deepcopy(request)
    req.setdefault("uid", "")
    req["kind"] = {"group": "", "version": "", "kind": "", **(req.get("kind") or {})}
    req.setdefault("operation", "")
    req.setdefault("userInfo", {})
    req.setdefault("object", None)
    req.setdefault("oldObject", None)
    if req["operation"] == "DELETE":  # Gatekeeper reviews the old object on DELETE
        if req["oldObject"] is None:
            raise CaseError("DELETE AdmissionRequest without oldObject")
        req["object"] = req["oldObject"]
    candidates = []
    for candidate in (req["object"], req["oldObject"]):
        if isinstance(candidate, dict):
            item = candidate
            namespace = req.get("namespace")
            if namespace and not (candidate.get("metadata") or {}).get("namespace"):
                item = copy.deepcopy(candidate)
                item.setdefault("metadata", {})["namespace"] = namespace
            candidates.append(item)
    return req, candidates


def case_review(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`input.review` for a case object (a plain object or an AdmissionReview) and the objects to match."""
    if obj.get("kind") == "AdmissionReview" and str(obj.get("apiVersion", "")).startswith("admission.k8s.io/"):
        return _admission_request(obj)
    return review(obj), [obj]


def match_case(constraint: Constraint, candidates: list[dict[str, Any]],
               namespaces: dict[str, dict[str, Any]]) -> bool | str:
    """True/False, or the autoreject message when a namespaceSelector needs an unknown Namespace."""
    undecided = None
    for obj in candidates:
        verdict = matches(constraint.match, obj, namespaces)
        if verdict is True:
            return True
        if isinstance(verdict, Undecided):
            undecided = (obj, verdict)
    if undecided is not None:
        name = (undecided[0].get("metadata") or {}).get("name", "")
        return (f"error matching the requested object: {name} :namespace selector for namespace-scoped object "
                "but missing Namespace")
    return False


def check_assertion(assertion: Any, messages: list[str]) -> None:
    """Raise CaseError unless the assertion holds for the result messages (gator's wording)."""
    if not isinstance(assertion, dict):
        raise CaseError(f"assertion must be a mapping, not {assertion!r}")
    pattern = assertion.get("message")
    if pattern is not None:
        try:
            regex = re.compile(str(pattern))
        except re.error as exc:
            raise CaseError(f"invalid message regex {pattern!r}: {exc}") from None
        matching = sum(1 for m in messages if regex.search(m))
    else:
        matching = len(messages)
    want = assertion.get("violations", "yes")
    want = {True: "yes", False: "no"}.get(want, want) if isinstance(want, bool) else want
    about = f" containing {json.dumps(str(pattern))}" if pattern is not None else ""
    got = f"got {matching} violations{about}"
    if isinstance(want, int):
        if want < 0:
            raise CaseError('assertion.violations, if set, must be a nonnegative integer, "yes", or "no"')
        problem = None if matching == want else f"{got} but want exactly {want}"
    elif want == "yes":
        problem = None if matching else f"{got} but want at least 1"
    elif want == "no":
        problem = None if not matching else f"{got} but want none"
    else:
        raise CaseError('assertion.violations, if set, must be a nonnegative integer, "yes", or "no"')
    if problem:
        raise CaseError(f"{problem}: got messages {json.dumps(messages)}")


def apply_assertions(result: CaseResult, assertions: list[Any]) -> None:
    """Fail ``result`` with the first assertion its results do not satisfy."""
    messages = [r["msg"] for r in result.results]
    try:
        for assertion in assertions:
            check_assertion(assertion, messages)
    except CaseError as exc:
        result.status, result.error = FAIL, str(exc)
