"""Binding subjects and the groups the API server adds to them."""

from __future__ import annotations

from dataclasses import dataclass

SA_USER_PREFIX = "system:serviceaccount:"  # the user name a ServiceAccount token authenticates as


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """A binding subject: User, Group or ServiceAccount (namespace only for ServiceAccounts)."""

    kind: str
    name: str
    namespace: str = ""

    def display(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


MASTERS = {Subject("Group", "system:masters")}


def implied_groups(subject: Subject) -> tuple[Subject, ...]:
    """The groups the API server adds to an authenticated identity."""
    authenticated = Subject("Group", "system:authenticated")
    if subject.kind == "ServiceAccount":
        return (Subject("Group", "system:serviceaccounts"),
                Subject("Group", f"system:serviceaccounts:{subject.namespace}"), authenticated)
    if subject.kind == "User":
        if subject.name == "system:anonymous":
            return (Subject("Group", "system:unauthenticated"),)
        return (authenticated,)
    if subject.name in ("system:authenticated", "system:unauthenticated"):
        return ()
    if subject.name.startswith("system:serviceaccounts:"):
        return (Subject("Group", "system:serviceaccounts"), authenticated)
    return (authenticated,)


def subject_of_entry(kind: str, name: str, namespace: str) -> Subject:
    """The identity a subject entry names; User system:serviceaccount:<ns>:<name> is that ServiceAccount."""
    if kind == "ServiceAccount":
        return Subject(kind, name, namespace)
    parts = name.split(":")
    if kind == "User" and len(parts) == 4 and name.startswith(SA_USER_PREFIX) and all(parts[2:]):
        return Subject("ServiceAccount", parts[3], parts[2])
    return Subject(kind, name)
