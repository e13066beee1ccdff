"""cdacheck's own CI-SIS rule packs (ISO Schematron files), installed as cdacheck.schematrons."""
