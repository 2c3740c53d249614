"""The policy simulator: a year of hotline calls played against the broker's own rules.

It answers a question nobody can answer from the live system: what a different national
policy (flexible transfers inside a house, the broker's ranking or its planner instead of a
phoning round, re-entry after an assessment) would change in families turned away, stays
cut off at their limit and occupancy by kind. Arrivals are drawn once per seed and played
against every policy (common random numbers), so a difference between policies is the
policy's, not luck's.

    broker.simulation.config      the figures of data/simulation.toml, each with its source
    broker.simulation.policies    a policy: transfers x matching x re-entry
    broker.simulation.networks    the demo or a synthetic network as the solver's facilities
    broker.simulation.population  the calls of one seed, and every draw about each family
    broker.simulation.state       a run's events, stays, tally and spec (plain data)
    broker.simulation.engine      one run's state and what each event does to it
    broker.simulation.rounds      the optimised policy's planning rounds
    broker.simulation.runs        playing runs to the end: one seed under every policy
    broker.simulation.results     what a run yields: metrics, daily series, its history
    broker.simulation.runner      many seeds over worker processes, with progress
    broker.simulation.summary     means, 95 % intervals and paired differences over seeds
    broker.simulation.report      report.html: inline SVG charts, each with its table
    broker.simulation.outputs     summary.json, runs.csv and report.html as files
    broker.simulation.command     ``broker simulate``
    broker.simulation.history     ``broker demo --history``: a simulated past in the database
"""
