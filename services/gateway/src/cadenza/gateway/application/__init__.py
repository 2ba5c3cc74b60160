"""The gateway's use cases (submit a job, read it, cancel it, add a song, …).

Routes are adapters over these modules: they parse a request, call one function here and
map its result, or its domain error (`application.errors`), to HTTP. Nothing here knows
of HTTP; SQL lives in the repositories, events go out through the outbox and the bus.
"""
