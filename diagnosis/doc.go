// Package diagnosis explains trouble codes and writes remote
// pre-diagnoses.
//
// The knowledge base (kb/) is data, versioned with the package: the
// trouble codes (kb/codes/*.tsv) with their meaning, severity and fault
// pattern; the patterns (kb/profiles.yaml) with the guidance for driving
// meanwhile and the likely causes, most likely first, each with its
// repair; and the repairs and parts (kb/repairs.yaml, kb/parts-*.yaml)
// with typical labour hours and parts prices. Prices are typical
// estimates in the base currency, converted and priced at a labour rate
// by Pricing; a shop's quote is what counts.
//
// A code not in the table is still explained from its structure (system,
// generic or maker-specific, subsystem), and says so.
package diagnosis
