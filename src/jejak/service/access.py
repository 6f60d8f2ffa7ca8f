"""Who may do what: the role matrix, in one table.

Every route of the service names its entry here and is refused (403) to every role not listed;
a test walks every cell (every route × every role), and ``docs/service.md`` prints this table.
Object-level rules (a requester sees only their own requests, a case only its owner, the people
it is assigned to, those granted it until a date, and approvers) are applied in the routes on top
of this, and answer 404 so that an id that exists and one that does not look the same.

The admin manages accounts and recipients but can neither approve releases nor read cases: one
compromised admin account must not be enough to take data out.
"""

from __future__ import annotations

REQUESTER, APPROVER, INVESTIGATOR, AUDITOR, ADMIN, EXTERNAL = (
    "requester", "approver", "investigator", "auditor", "admin", "external")
ROLES = (REQUESTER, APPROVER, INVESTIGATOR, AUDITOR, ADMIN, EXTERNAL)
EVERYONE = frozenset(ROLES)

# route name -> (method, path, roles allowed, what it is)
ROUTES: dict[str, tuple[str, str, frozenset[str], str]] = {
    "home": ("GET", "/", EVERYONE, "start page: what this account may do"),
    "signout": ("POST", "/signout", EVERYONE, "end the session"),
    "account": ("GET", "/account", EVERYONE, "own account and API tokens"),
    "account.token": ("POST", "/account/tokens", EVERYONE - {EXTERNAL}, "create an API token for scripts"),
    # releases: the only door data leaves by
    "requests.list": ("GET", "/requests", frozenset({REQUESTER, APPROVER}), "release requests (own, or all)"),
    "requests.new": ("GET", "/requests/new", frozenset({REQUESTER}), "form: request a release"),
    "requests.create": ("POST", "/requests", frozenset({REQUESTER}), "submit a release request"),
    "requests.show": ("GET", "/requests/{rid}", frozenset({REQUESTER, APPROVER}), "one request"),
    "requests.approve": ("POST", "/requests/{rid}/approve", frozenset({APPROVER}),
                         "approve (never one's own): the release is made"),
    "requests.reject": ("POST", "/requests/{rid}/reject", frozenset({APPROVER}), "reject a request"),
    "requests.link": ("POST", "/requests/{rid}/link", frozenset({REQUESTER}), "make the one-time download link"),
    "requests.download": ("GET", "/requests/{rid}/download/{token}", frozenset({REQUESTER}),
                          "download the release, once"),
    # cases: where leaks are worked
    "cases.list": ("GET", "/cases", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}), "cases this account may read"),
    "cases.new": ("GET", "/cases/new", frozenset({INVESTIGATOR}), "form: upload a leaked file"),
    "cases.create": ("POST", "/cases", frozenset({INVESTIGATOR}), "upload a leaked file; the investigation starts"),
    "cases.show": ("GET", "/cases/{cid}", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}),
                   "progress, then the verdict page"),
    "cases.progress": ("GET", "/cases/{cid}/progress", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}),
                       "the investigation's stage (JSON)"),
    "cases.report": ("GET", "/cases/{cid}/report.html", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}),
                     "the offline HTML report"),
    "cases.pdf": ("GET", "/cases/{cid}/report.pdf", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}),
                  "the report as PDF"),
    "cases.verdict": ("GET", "/cases/{cid}/verdict.json", frozenset({INVESTIGATOR, APPROVER, EXTERNAL}),
                      "the verdict JSON (for scripts)"),
    "cases.notify": ("POST", "/cases/{cid}/notify", frozenset({APPROVER}),
                     "prepare and download the UU PDP notification pack"),
    "cases.assign": ("POST", "/cases/{cid}/assign", frozenset({INVESTIGATOR}),
                     "assign the case to a colleague (its owner)"),
    "cases.grant": ("POST", "/cases/{cid}/grant", frozenset({INVESTIGATOR}),
                    "grant an external investigator this one case until a date (its owner)"),
    "cases.revoke": ("POST", "/cases/{cid}/revoke", frozenset({INVESTIGATOR}),
                     "end a colleague's assignment or an external's grant at once (its owner)"),
    # oversight
    "audit.log": ("GET", "/audit", frozenset({AUDITOR}), "the audit log and its verification"),
    "audit.ledger": ("GET", "/audit/ledger", frozenset({AUDITOR}), "the release ledger"),
    "audit.requests": ("GET", "/audit/requests", frozenset({AUDITOR}), "every request and decision"),
    "admin.users": ("GET", "/admin/users", frozenset({ADMIN}), "accounts"),
    "admin.users.create": ("POST", "/admin/users", frozenset({ADMIN}), "create an account"),
    "admin.users.role": ("POST", "/admin/users/{uid}/role", frozenset({ADMIN}), "change an account's role"),
    "admin.users.active": ("POST", "/admin/users/{uid}/active", frozenset({ADMIN}),
                           "disable, enable or unlock an account"),
    "admin.recipients": ("GET", "/admin/recipients", frozenset({ADMIN}), "recipients"),
    "admin.recipients.create": ("POST", "/admin/recipients", frozenset({ADMIN}), "add a recipient"),
}


def allowed(route: str, role: str) -> bool:
    return role in ROUTES[route][2]


def matrix_markdown() -> str:
    """The role matrix as the Markdown table ``docs/service.md`` carries (a test keeps them equal)."""
    head = "| route | " + " | ".join(ROLES) + " |"
    lines = [head, "|---|" + "---|" * len(ROLES)]
    for method, path, roles, _what in ROUTES.values():
        cells = " | ".join("yes" if r in roles else "–" for r in ROLES)
        lines.append(f"| `{method} {path}` | {cells} |")
    return "\n".join(lines)
