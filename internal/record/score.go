package record

import "slices"

// ScoreEdges are the bin edges of every table of association scores (eval's
// reliability table, the report's histogram, tools/calibrate): tenths up to
// 0.9, then finer, because at the default --min-score of 0.9 every
// association lies above it and a single [0.9, 1] bin would say nothing of
// how its scores are spread or whether each part of it is calibrated.
var ScoreEdges = [...]float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1}

// NumScoreBins is the number of score bins.
const NumScoreBins = len(ScoreEdges) - 1

// ScoreBin is the index of the bin holding score s: [ScoreEdges[i],
// ScoreEdges[i+1]), the last one closed. A score below 0 (or NaN) is in the
// first bin, one above 1 in the last. Written scores have 4 decimals, and
// "0.9500" parses to the very float64 of the edge 0.95.
func ScoreBin(s float64) int {
	i, found := slices.BinarySearch(ScoreEdges[:], s)
	if !found {
		i--
	}
	return min(max(i, 0), NumScoreBins-1)
}
