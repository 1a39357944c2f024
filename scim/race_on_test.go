//go:build race

package scim

// raceSlowdown is how much slower the race detector makes a request.
const raceSlowdown = 10
