// Package car models a petrol car for the simulator: a driver following
// drive cycles (parked, idle, city, highway), an engine that warms up, and
// coupled signals (speed, gear and rpm; throttle, load, MAP and MAF;
// coolant, intake, oil and catalyst temperatures; fuel level and trims; O2
// sensors; battery and charging voltage; odometer and the counters since
// codes were cleared). Faults develop over time from a scenario, each with
// its signature in the signals and its trouble codes, which go pending,
// then confirmed with the MIL on and a freeze frame, as an engine ECU
// would. Everything is deterministic for a seed: time only moves when the
// caller steps the model.
package car
