// Package search builds FHIR search parameter values that cannot be written
// wrong, as the strings the generated params structs in gen/ take.
//
// FHIR packs a lot of syntax into one query string: prefixes in front of dates
// (ge2018-07-01), partial dates whose precision changes the meaning, a "|"
// between a token's system and code, ":" modifiers on the parameter name, and
// "\" escapes for the characters that would otherwise split a value. A typo in
// any of them is not an error on most servers: it silently matches nothing, or
// everything. The constructors here produce only well-formed values, and
// ValidateFor checks a value against what PKB's documents say the parameter
// accepts (its type, prefixes, modifiers, AND repetition, reference targets),
// from a table generated from the OpenAPI x-fhir-search extensions joined with
// HL7's SearchParameter definitions.
//
// Values plug into the generated params structs as strings:
//
//	facade.SearchObservationParams{
//		Category: search.Code(obsCategory, "LABORATORY").String(),
//		Patient:  search.Ref("Patient", id).String(),
//		Date:     search.Between(search.Day(from), search.Day(to)),
//	}
//
// Anything a params struct cannot express (a ":exact" or ":Patient" modifier
// on the name, a parameter the document does not declare) goes through Params
// and its request editor, which every generated client accepts.
//
// Error messages from this package name parameters, never values: search
// values carry identifiers such as NHS numbers.
package search
