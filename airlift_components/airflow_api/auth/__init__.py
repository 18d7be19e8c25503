"""How the client proves who it is to Airflow.

An auth backend knows the webserver URL and prepares a ``requests.Session``. The client calls
:meth:`AirflowAuthBackend.authenticate` once the API dialect is known (Airflow 3 wants a JWT, Airflow 2
accepts HTTP basic auth) and :meth:`AirflowAuthBackend.refresh` once when Airflow answers 401. A long-lived
client (the sensor's) also calls :meth:`AirflowAuthBackend.start_login_session`: :class:`BasicAuthBackend`
then logs in to Airflow 2 once and sends the session cookie instead of the password.

| module | backends |
| --- | --- |
| ``base.py`` | :class:`AirflowAuthBackend`, :class:`RenewingBearerAuthBackend` (a token renewed before expiry and on 401), the TLS error |
| ``basic.py`` | :class:`BasicAuthBackend` (password; a renewing JWT on Airflow 3), :class:`TokenAuthBackend` |
| ``managed.py`` | MWAA (Airflow 2 session, Airflow 3 JWT), Cloud Composer, Astronomer |

Custom auth: subclass :class:`AirflowAuthBackend` and override ``get_session`` (and ``refresh`` if
your credentials expire)::

    class HeaderAuthBackend(AirflowAuthBackend):
        def __init__(self, webserver_url: str, api_key: str):
            self._url, self._api_key = webserver_url, api_key

        def get_webserver_url(self) -> str:
            return self._url

        def get_session(self) -> requests.Session:
            session = requests.Session()
            session.headers["X-Api-Key"] = self._api_key
            return session
"""

from airlift_components.airflow_api.auth.base import (
    TLS_FIX,
    AirflowAuthBackend,
    RenewingBearerAuthBackend,
    tls_error,
)
from airlift_components.airflow_api.auth.base import (
    _jwt_expiry as _jwt_expiry,
)
from airlift_components.airflow_api.auth.basic import (
    AirflowBasicAuthBackend,
    BasicAuthBackend,
    TokenAuthBackend,
)
from airlift_components.airflow_api.auth.managed import (
    CLOUD_PLATFORM_SCOPE,
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    MwaaSessionAuthBackend,
    import_google_auth,
    mwaa_login_token,
)

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "TLS_FIX",
    "AirflowAuthBackend",
    "AirflowBasicAuthBackend",
    "AstronomerAuthBackend",
    "BasicAuthBackend",
    "ComposerAuthBackend",
    "MwaaAirflow3AuthBackend",
    "MwaaSessionAuthBackend",
    "RenewingBearerAuthBackend",
    "TokenAuthBackend",
    "import_google_auth",
    "mwaa_login_token",
    "tls_error",
]
