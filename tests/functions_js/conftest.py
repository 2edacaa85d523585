"""The `js` fixture (an API client of a project with JavaScript functions) for every
module here."""

from tests.functions_js.test_functions_js import js  # noqa: F401
