"""Pages: the admin's hubs and users (role ``admin``).

Through the gateway's admin API only: ``/api/auth/users`` (list, create, PATCH roles,
hubs and active flag) and ``/api/catalogue/hubs`` (list, create). The API checks the
role, so anyone else gets its 403 page. The user list is paged by email with a search
box, because the platform's accounts outgrow one page; after creating a user the list
is shown searched for them.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from gateway.web.base import api_field_errors, bp, field_errors, menu_item, with_api
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import SETTING_LABELS

menu_item("Admin", "web.admin", {"admin"}, order=90)

#: shared.auth.ROLES in words.
ROLES = {
    "practitioner": "Practitioner",
    "mentor": "Mentor",
    "hub_lead": "Hub lead",
    "admin": "Admin",
}
PAGE_SIZE = 50
USER_FIELDS = {
    "name": "name",
    "email": "email",
    "password": "password",
    "roles": "roles",
    "hub_ids": "hub_ids",
    "setting_type": "setting_type",
}
HUB_FIELDS = {"name": "hub_name", "region": "region", "host_setting": "host_setting", "eip": "eip"}


@bp.app_template_filter("admin_role")
def _admin_role(code: str) -> str:
    return ROLES.get(code, code.replace("_", " ").capitalize())


def _hubs(api: Api) -> dict[str, str]:
    items = api.get("/api/catalogue/hubs").get("items", [])
    return {str(h["id"]): str(h["name"]) for h in sorted(items, key=lambda h: h["name"])}


# -- the overview --------------------------------------------------------------------------
@bp.route("/admin")
def admin() -> Any:
    q = request.args.get("q", "").strip()
    cursor = request.args.get("cursor", "").strip()
    errors: list[dict[str, str]] = []
    if len(q) > 100:
        errors.append({"field": "q", "text": "Search must be 100 characters or fewer"})
        q = ""
    page, hubs = with_api(
        lambda api: parallel(
            lambda: api.get("/api/auth/users", q=q, cursor=cursor, limit=PAGE_SIZE),
            lambda: _hubs(api),
        )
    )
    keep = {"q": q} if q else {}
    return (
        render_template(
            "web/admin/index.html",
            users=page.get("items", []),
            hubs=hubs,
            q=q,
            next_url=(
                url_for("web.admin", **keep, cursor=page["next_cursor"])
                if page.get("next_cursor")
                else None
            ),
            first_url=url_for("web.admin", **keep) if cursor else None,
            errors=errors,
            by_field=field_errors(errors),
        ),
        400 if errors else 200,
    )


# -- hubs ----------------------------------------------------------------------------------
@bp.route("/admin/hubs/new", methods=["GET", "POST"])
def admin_new_hub() -> Any:
    form = {k: request.form.get(k, "").strip() for k in HUB_FIELDS.values()}
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        if len(form["hub_name"]) < 3:
            errors.append(
                {"field": "hub_name", "text": "Enter the hub's name (3 characters or more)"}
            )
        if len(form["region"]) < 2:
            errors.append({"field": "region", "text": "Enter the hub's region"})
        if not errors:
            body = {
                "name": form["hub_name"],
                "region": form["region"],
                "host_setting": form["host_setting"] or None,
                "eip": form["eip"] or None,
            }
            try:
                hub = with_api(lambda api: api.post("/api/catalogue/hubs", json=body))
            except ApiError as exc:
                if exc.status == 409:
                    errors.append(
                        {"field": "hub_name", "text": "A hub with this name already exists"}
                    )
                elif exc.status == 422:
                    errors += api_field_errors(exc, HUB_FIELDS)
                else:
                    raise
            else:
                flash(f"You have added the hub {hub['name']}.", "success")
                return redirect(url_for("web.admin") + "#hubs")
    return (
        render_template(
            "web/admin/hub_new.html", form=form, errors=errors, by_field=field_errors(errors)
        ),
        422 if errors else 200,
    )


# -- users ---------------------------------------------------------------------------------
def _chosen(hubs: dict[str, str]) -> tuple[list[str], list[str]]:
    roles = [r for r in request.form.getlist("roles") if r in ROLES]
    hub_ids = [h for h in request.form.getlist("hub_ids") if h in hubs]
    return roles, hub_ids


@bp.route("/admin/users/new", methods=["GET", "POST"])
def admin_new_user() -> Any:
    hubs = with_api(_hubs)
    form = {k: request.form.get(k, "").strip() for k in ("name", "email", "setting_type")}
    roles, hub_ids = _chosen(hubs)
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        password = request.form.get("password", "")
        if not form["name"]:
            errors.append({"field": "name", "text": "Enter the person's full name"})
        if not form["email"]:
            errors.append({"field": "email", "text": "Enter the person's email address"})
        if len(password) < 8:
            errors.append({"field": "password", "text": "Password must be 8 characters or more"})
        if not roles:
            errors.append({"field": "roles", "text": "Select at least one role"})
        if form["setting_type"] and form["setting_type"] not in SETTING_LABELS:
            errors.append({"field": "setting_type", "text": "Select a setting from the list"})
        if not errors:
            body: dict[str, Any] = {
                "name": form["name"],
                "email": form["email"],
                "password": password,
                "roles": roles,
                "hub_ids": hub_ids,
                "setting_type": form["setting_type"] or None,
            }
            try:
                user = with_api(lambda api: api.post("/api/auth/users", json=body))
            except ApiError as exc:
                if exc.status == 409:
                    errors.append(
                        {"field": "email", "text": "An account already exists for this email"}
                    )
                elif exc.status == 422:
                    errors += api_field_errors(exc, USER_FIELDS)
                else:
                    raise
            else:
                flash(f"You have added {user['name']} ({user['email']}).", "success")
                return redirect(url_for("web.admin", q=user["email"]))
    return (
        render_template(
            "web/admin/user_new.html",
            form=form,
            roles=roles,
            hub_ids=hub_ids,
            all_roles=ROLES,
            hubs=hubs,
            settings=SETTING_LABELS,
            errors=errors,
            by_field=field_errors(errors),
        ),
        422 if errors else 200,
    )


@bp.route("/admin/users/<uuid:user_id>", methods=["GET", "POST"])
def admin_user(user_id: uuid.UUID) -> Any:
    """Change a user's roles and hubs, or (de)activate them (the ``action`` button)."""
    user, hubs = with_api(
        lambda api: parallel(lambda: api.get(f"/api/auth/users/{user_id}"), lambda: _hubs(api))
    )
    roles, hub_ids = list(user["roles"]), [str(h) for h in user["hub_ids"]]
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        action = request.form.get("action", "save")
        changes: dict[str, Any]
        if action in ("deactivate", "reactivate"):
            changes = {"is_active": action == "reactivate"}
        else:
            roles, hub_ids = _chosen(hubs)
            changes = {"roles": roles, "hub_ids": hub_ids}
            if not roles:
                errors.append({"field": "roles", "text": "Select at least one role"})
        if not errors:
            path = f"/api/auth/users/{user_id}"
            try:
                saved = with_api(lambda api: api.call("PATCH", path, json=changes))
            except ApiError as exc:
                if exc.status in (409, 422):
                    errors += api_field_errors(exc, {"roles": "roles", "hub_ids": "hub_ids"})
                else:
                    raise
            else:
                if action == "deactivate":
                    message = f"You have deactivated {saved['name']}. They can no longer sign in."
                elif action == "reactivate":
                    message = f"You have reactivated {saved['name']}."
                else:
                    message = f"You have changed {saved['name']}'s roles and hubs."
                flash(message, "success")
                return redirect(url_for("web.admin_user", user_id=user_id))
    return (
        render_template(
            "web/admin/user.html",
            user=user,
            roles=roles,
            hub_ids=hub_ids,
            all_roles=ROLES,
            hubs=hubs,
            errors=errors,
            by_field=field_errors(errors),
        ),
        422 if errors else 200,
    )
