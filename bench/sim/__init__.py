"""A simulated Docker Engine (a swarm manager) on a unix socket.

It answers the calls swarm-sentinel, docker-py and a typical exporter make
(``/_ping``, ``/version``, ``/info``, ``/nodes``, ``/nodes/{id}``,
``/services[?status=true]``, ``/services/{id}``, ``POST /services/{id}/update``,
``/tasks``, ``/tasks/{id}``, ``/events``), with or without a ``/v1.NN``
prefix, in the JSON shapes of a real engine (``engine-samples/<API version>/``,
captured from a real swarm: key order, optional keys per task state, compact
encoding, chunked lists, one JSON line per event). ``--api-version`` picks the
engine: 1.41 (dockerd 20.10) or 1.51 (Engine 28.5); with ``--min-api-version``
it refuses older clients with the engine's own words, as Engine 29 does below 1.44.

The swarm is generated from a seed: ``nodes`` (the first ``managers`` of them
managers), ``services`` (1 in 20 global, on a pool of ``tasks-per-service``
nodes; the rest replicated with ``tasks-per-service`` replicas), and per slot
``history`` tasks (the current one and older shut down or failed ones, as
swarm's TaskHistoryRetentionLimit keeps them). Churn, per second:

- ``task-churn``: task state changes. Each is half a restart: the running task
  of a random slot fails (``task: non-zero exit (1)``) and its replacement,
  created at once in ``ready``, turns ``running`` after the restart delay.
  /tasks and the ``RunningTasks`` of /services?status=true follow.
- ``service-churn``: service updates (a label changes, the version moves), each
  one ``service update`` event.
- ``node-flaps``: a worker goes ``down`` (heartbeat failure) and comes back
  ``ready`` ``flap-seconds`` later, one ``node update`` event each way.

A few services (label ``bench.probe=true``) and workers are kept out of the
churn; ``POST /_sim/probe`` changes them on request and answers the
``time.monotonic()`` of the change, for event -> metric latencies.
``GET /_sim/stats`` answers the requests and bytes served per endpoint.

The parts: ``objects`` (nodes, services, tasks), ``swarm`` (generating the
swarm, changing it, its events), ``shapes`` (the engine's JSON for them),
``filters`` (the ``filters``, ``since`` and ``until`` parameters), ``server``
(the HTTP API and its counters) and ``__main__`` (``python -m bench.sim``).
"""
