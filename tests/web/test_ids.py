"""Ids out of range or garbled are 404/400, never a database error or a silent fallback."""

from __future__ import annotations

import pytest

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/admin/members/{HUGE}"),
        ("get", f"/admin/api-clients/{HUGE}"),
        ("post", f"/admin/transactions/{HUGE}/reverse"),
        ("post", f"/admin/tokens/unknown/{HUGE}/assign"),
    ],
)
def test_huge_ids_in_paths_are_404(admin_browser, method, path):
    response = getattr(admin_browser, method)(path)
    assert response.status_code == 404


@pytest.mark.parametrize("member", ["abc", HUGE, "-1", "0", "١٢"])
def test_garbled_member_on_delete_journal_is_400_not_delete_all(admin_browser, member):
    response = admin_browser.get(f"/admin/journal/delete?member={member}")
    assert response.status_code == 400
    assert "ALLE" not in response.get_data(as_text=True)
