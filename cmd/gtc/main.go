// Command gtc is the Gas Town coordinator: server, CLI client, worker, load test and profiler.
package main

func main() {}
