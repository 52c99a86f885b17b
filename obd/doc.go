// Package obd speaks SAE J1979, the diagnostic language every OBD-II car
// understands: it builds requests, decodes service 01 parameters into
// physical values with COVESA VSS signal names, reads trouble codes, freeze
// frames, readiness monitors and vehicle information, and runs a full scan.
//
// It does not talk to hardware itself. A Transport carries requests to the
// car: an ELM327 adapter (package obd/elm327) or ISO-TP straight on the CAN
// bus (package obd/isotp); the Client on top is the same for both.
package obd
