"""API clients (terminals, integrations) and their keys; a new key is shown exactly once."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fvh.core import keys
from fvh.core.errors import NotFound
from fvh.db.models import ApiClient
from fvh.http.context import db_session
from fvh.web.admin import bp, confirmation
from fvh.web.auth import admin_required, current_actor
from fvh.web.forms import ApiClientForm, ApiKeyForm
from fvh.web.outcome import attempt


def client_or_404(client_id: int) -> ApiClient:
    try:
        return keys.get_client(db_session(), client_id)
    except NotFound:
        abort(404)


@bp.route("/api-clients", methods=["GET", "POST"])
@admin_required
def api_clients() -> ResponseReturnValue:
    session = db_session()
    form = ApiClientForm()
    if form.validate_on_submit():
        with attempt(form, field="name") as outcome:
            client = keys.create_client(session, form.name.data or "", current_actor())
        if outcome.ok:
            flash(_("API-Benutzer %(name)s angelegt.", name=client.name), "success")
            return redirect(url_for("admin.api_client", client_id=client.id))
    status = 400 if form.errors else 200
    return render_template(
        "web/admin/api_clients.html", form=form, clients=keys.list_clients(session)
    ), status


@bp.route("/api-clients/<int:client_id>", methods=["GET", "POST"])
@admin_required
def api_client(client_id: int) -> ResponseReturnValue:
    """The client's keys; POST issues a new key and shows it once on the answer page."""
    client = client_or_404(client_id)
    form = ApiKeyForm()
    if form.validate_on_submit():
        with attempt(form) as outcome:
            row, plaintext = keys.create_key(
                db_session(),
                client,
                current_actor(),
                scope=form.scope.data,
                name=form.name.data or "",
            )
        if outcome.ok:
            return render_template(
                "web/admin/api_key_created.html", client=client, key=row, plaintext=plaintext
            )
    return render_template("web/admin/api_client.html", client=client, form=form)


@bp.post("/api-keys/<int:key_id>/revoke")
@admin_required
def api_key_revoke(key_id: int) -> ResponseReturnValue:
    session = db_session()
    try:
        key = keys.get_key(session, key_id)
    except NotFound:
        abort(404)
    confirm = confirmation.Confirmation()
    if key.revoked_at is None and not confirm.given():
        return confirm.ask(
            title=_("Schlüssel widerrufen"),
            warning=_(
                "Der Schlüssel %(prefix)s… %(name)s von %(client)s wird widerrufen; wer ihn "
                "benutzt, wird sofort abgewiesen. Das lässt sich nicht rückgängig machen.",
                prefix=key.display_prefix,
                name=key.name,
                client=key.client.name,
            ),
            button=_("Widerrufen"),
            cancel_url=url_for("admin.api_client", client_id=key.client_id),
        )
    keys.revoke_key(session, key, current_actor())
    session.commit()
    flash(_("Schlüssel %(prefix)s… widerrufen.", prefix=key.display_prefix), "success")
    return redirect(url_for("admin.api_client", client_id=key.client_id))


@bp.route("/api-clients/<int:client_id>/delete", methods=["GET", "POST"])
@admin_required
def api_client_delete(client_id: int) -> ResponseReturnValue:
    client = client_or_404(client_id)
    mismatch = _("Bitte genau den Namen %(name)s eingeben.", name=client.name)
    confirm = confirmation.Confirmation(client.name, mismatch)
    if confirm.given():
        session = db_session()
        name = client.name
        keys.delete_client(session, client, current_actor())
        session.commit()
        flash(_("API-Benutzer %(name)s gelöscht.", name=name), "success")
        return redirect(url_for("admin.api_clients"))
    return confirm.ask(
        title=_("API-Benutzer löschen"),
        warning=_(
            "%(name)s wird mit allen Schlüsseln gelöscht; Terminals mit diesen Schlüsseln "
            "werden abgewiesen.",
            name=client.name,
        ),
        cancel_url=url_for("admin.api_client", client_id=client.id),
    )
