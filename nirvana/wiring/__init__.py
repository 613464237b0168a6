"""The wiring of real adapters to the domain, one module per concept; `nirvana/bootstrap.py`
composes them into the services and opens and closes them in order."""
