"""Work around a Streamlit 1.60 / Starlette >= 1.x incompatibility that breaks every media file.

Streamlit's gzip middleware (``streamlit.web.server.starlette.starlette_gzip_middleware``)
overrides Starlette's responders to intercept the ``http.response.start`` message. Newer
Starlette excludes images, zips and media from compression itself, and then expects the
start message to have been *sent* when it was intercepted; Streamlit's override only
stores it, so the body goes out first and uvicorn fails with "Expected ASGI message
'http.response.start', but got 'http.response.body'". Every ``st.image`` and every PNG or
zip download then answers HTTP 500 (the page shows broken images).

When the installed Starlette already excludes media types (``exclude_content_types``
exists), Streamlit's override adds nothing, so we let Starlette's own responders
handle the start message. With an older Starlette nothing is changed. The proper fix is
a Starlette release Streamlit 1.60 supports; see the README's lab section.
"""
from __future__ import annotations

import inspect


def patch_streamlit_gzip() -> bool:
    """Apply the workaround if this Starlette needs it; return whether it was applied."""
    try:
        from starlette.middleware.gzip import GZipResponder, IdentityResponder
        from streamlit.web.server.starlette import starlette_gzip_middleware as gz
    except ImportError:  # another server implementation: nothing to fix
        return False
    if "exclude_content_types" not in inspect.signature(IdentityResponder.__init__).parameters:
        return False
    gz._MediaAwareGZipResponder.send_with_compression = GZipResponder.send_with_compression
    gz._MediaAwareIdentityResponder.send_with_compression = IdentityResponder.send_with_compression
    return True
