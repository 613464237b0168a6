"""A web form's error message: the API's words for a field give way to "fix the fields
marked below" only when the form shows that field's own error line."""

from __future__ import annotations

from nirvana.domain.errors import ConflictError, field_error
from nirvana.web.forms import FormErrors
from nirvana.web.pages.accounts import SIGNUP_FIELDS
from nirvana.web.pages.writing import EDITOR_FIELDS


def test_an_error_on_a_shown_field_is_marked_beside_it_only():
    errors = FormErrors.of(field_error("password", "must be at least 8 characters"),
                           SIGNUP_FIELDS)
    assert errors.message is None
    assert errors.fields == {"password": "must be at least 8 characters"}
    assert errors.status == 422


def test_an_error_on_a_field_the_form_does_not_show_keeps_its_message():
    # The editor sends `audience` and `status` but has no error line for them.
    for name in ("audience", "status", "updated_at"):
        errors = FormErrors.of(field_error(name, "is not valid"), EDITOR_FIELDS)
        assert errors.message == f"{name}: is not valid", name


def test_a_message_that_is_not_a_fields_words_is_kept():
    errors = FormErrors.of(ConflictError("This username is taken."), SIGNUP_FIELDS)
    assert errors.message == "This username is taken." and errors.status == 409
