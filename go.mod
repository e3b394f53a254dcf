module github.com/sentinel-ml/sentinel

go 1.26.8

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
