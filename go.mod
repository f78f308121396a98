module github.com/regoresilience/rego

go 1.26

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/puzpuzpuz/xsync/v3 v3.5.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
