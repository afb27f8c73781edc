package coord

import "sort"

func sortWorkers(ws []WorkerStatus) {
	sort.Slice(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
}
