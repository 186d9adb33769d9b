"""swarm-sentinel exporter: an event-driven model of a Docker Swarm, served as metrics."""
