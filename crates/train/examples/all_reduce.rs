//! MPI's own `all_reduce_into` of a bucket's bytes, the yardstick of a training step's gradient
//! exchange: `mpirun -np 2 target/release/examples/all_reduce [MB] [repeats]` prints rank 0's
//! median in ms (`--mca btl self,tcp` for TCP instead of shared memory).

use mpi::collective::SystemOperation;
use mpi::traits::{Communicator, CommunicatorCollectives};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8.0);
    let repeats: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let universe = mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let values = vec![1f32; (mb * 1e6 / 4.0) as usize];
    let mut summed = vec![0f32; values.len()];
    let mut ms: Vec<f64> = (0..repeats + 3)
        .map(|_| {
            world.barrier();
            let started = std::time::Instant::now();
            world.all_reduce_into(&values[..], &mut summed[..], SystemOperation::sum());
            started.elapsed().as_secs_f64() * 1e3
        })
        .skip(3)
        .collect();
    assert_eq!(summed[0], world.size() as f32);
    ms.sort_by(f64::total_cmp);
    if world.rank() == 0 {
        println!(
            "all_reduce_into: {:.2} MB over {} ranks, median {:.3} ms of {repeats} (min {:.3}, max {:.3})",
            values.len() as f64 * 4.0 / 1e6,
            world.size(),
            ms[ms.len() / 2],
            ms[0],
            ms[ms.len() - 1]
        );
    }
}
