// Package message builds and receives PKB's patient messages, checking PKB's
// rules before anything is sent, because PKB reports most of them only after
// the fact (asynchronously) or not at all.
//
// Three pieces:
//
//   - PatientBuilder and ValidatePatient: the body of PKB's custom
//     Patient/$process-message (a single stu3.Patient), with PKB's required
//     fields, the team-alias rule, NHS-number checksum, one email and one phone.
//   - NewCreateOrUpdatePatient: the FHIR-standard asynchronous
//     $process-message Bundle (PKB's roadmap design): MessageHeader first, a
//     fresh random Bundle.identifier (PKB rejects a repeat as a duplicate), the
//     integrator's inbound endpoint in source.endpoint and the ODS code tag.
//   - Handler: the inbound endpoint PKB posts its asynchronous responses to,
//     bearer-token protected, bounded, and idempotent when PKB redelivers.
//
// Nothing in this package puts patient data into an error string or a log
// record: errors name the field (as a FHIRPath-like location), never its value.
package message
