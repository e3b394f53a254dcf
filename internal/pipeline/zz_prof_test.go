package pipeline

import (
	"os"
	"runtime/pprof"
	"runtime"
)

func writeHeapProfile(name string) {
	runtime.GC()
	runtime.GC()
	f, _ := os.Create(name)
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
}
