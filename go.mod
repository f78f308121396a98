module github.com/regoresilience/rego

go 1.26

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/puzpuzpuz/xsync/v3 v3.5.1
	go.uber.org/goleak v1.3.0
)
