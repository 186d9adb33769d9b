// swarm-sentinel as a monitoring mixin, for jsonnet users: the generated rule file and
// dashboards, as they are committed. Their values (thresholds, for, severities, the runbook
// URL, a selector) come from grafana/config.py: rebuild them with
// `python -m grafana.build --set KEY=VALUE` (docs/alerts.md, "Other values") rather than
// overriding fields here, so that the rules, their texts and the panels stay in step.
//
//   local swarmSentinel = import 'swarm-sentinel/grafana/mixin.libsonnet';
//   swarmSentinel.prometheusAlerts   // {groups: [...]}: the alerting rules
//   swarmSentinel.prometheusRules    // {groups: [...]}: the recording rules the dashboards read
//   swarmSentinel.grafanaDashboards  // {'swarm-overview.json': {...}, ...}
//
// std.parseYaml needs jsonnet 0.20 or later (0.18's cannot read block scalars). The alerts
// of compose/discovery.rules.yml belong to compose/prometheus.yml's DNS discovery and are
// left out: load that file beside these where you discover the exporters the same way. So are
// those of alerts/swarm-usage.rules.yml, which belong to the usage jobs of compose/usage.yml
// (the usage dashboard reads its records): load it where you scrape them.
local rules = std.parseYaml(importstr 'alerts/swarm-sentinel.rules.yml');
local recording(group) = std.all([std.objectHas(rule, 'record') for rule in group.rules]);

{
  prometheusAlerts+:: {
    groups+: [group for group in rules.groups if !recording(group)],
  },
  prometheusRules+:: {
    groups+: [group for group in rules.groups if recording(group)],
  },
  grafanaDashboards+:: {
    'swarm-overview.json': import 'dashboards/swarm-overview.json',
    'swarm-services.json': import 'dashboards/swarm-services.json',
    'swarm-healer.json': import 'dashboards/swarm-healer.json',
    'swarm-hazards.json': import 'dashboards/swarm-hazards.json',
    'swarm-usage.json': import 'dashboards/swarm-usage.json',
  },
}
