import { MeshError } from '../errors.js'

/** A simulation step its state does not allow: a node index that does not exist, a step on a killed node, a run before `start()`. */
export class SimulationError extends MeshError {
  override name = 'SimulationError'
  override code = 'WIREMESH_ERR_SIMULATION'
}
