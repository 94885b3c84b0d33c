"""Room calendars both ways: Graph change notifications in, reservation and user CloudEvents out.

``client_state``, ``notifications``, ``renewal``, ``reservations`` and ``directory`` are pure;
``intake``, ``worker``, ``registration``, ``timers`` and ``publisher`` are the use cases, which reach
the outside world only through ``shared.rooms.ports``.
"""
