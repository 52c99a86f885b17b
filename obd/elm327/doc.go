// Package elm327 drives ELM327 OBD adapters and their many clones, over a
// serial port (USB, Bluetooth SPP) or TCP (Wi-Fi dongles), as an
// obd.Transport.
//
// It initialises the adapter (reset, echo and linefeeds off, headers on,
// automatic protocol search), detects the firmware's abilities and the
// quirks of clones, asks for the response count where the firmware honours
// it, reassembles multi-frame and multi-ECU answers from their header lines,
// turns every error reply into a typed *ReplyError, bounds every read with a
// deadline and reconnects when the adapter or the car goes away.
package elm327
