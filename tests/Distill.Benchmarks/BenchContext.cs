using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Tracking;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>What every benchmark shares: the shipped Fashion-MNIST subset, the quickstart's teacher
/// and student specs, the KD stage of the brief, and a throw-away run store in a temp folder.</summary>
public sealed class BenchContext : IDisposable
{
    public const int Seed = 42;
    public const int TeacherSeed = Seed;
    public const int StudentSeed = Seed + 1;
    /// <summary>Phase index of the distil stage in the quickstart (phase 0 trains the teacher).</summary>
    public const int PhaseIndex = 1;
    public const int BatchSize = 64;
    public const double LearningRate = 0.004;
    public const double Temperature = 4.0;
    public const double Alpha = 0.9;
    /// <summary>Batch size of the teacher-cache build and of validation, as in StageTrainer and Evaluator.</summary>
    public const int EvalBatchSize = 512;

    public static readonly ModelSpec TeacherSpec = new()
    {
        Arch = ModelArch.Cnn,
        Channels = [32, 64],
        Hidden = [128],
        Dropout = 0.2,
    };

    public static readonly ModelSpec StudentSpec = new()
    {
        Arch = ModelArch.Cnn,
        Channels = [16, 24],
        Depthwise = [false, true],
        Hidden = [],
    };

    private readonly string _storeDirectory;

    private BenchContext(string dataDirectory, DataSplits data, ZooModel teacher, string storeDirectory, RunStore store)
    {
        DataDirectory = dataDirectory;
        Data = data;
        Teacher = teacher;
        _storeDirectory = storeDirectory;
        Store = store;
    }

    public string DataDirectory { get; }
    public DataSplits Data { get; }

    /// <summary>The quickstart teacher, freshly initialised (not trained): its compute per step is
    /// what matters here, not its accuracy.</summary>
    public ZooModel Teacher { get; }
    public RunStore Store { get; }

    public long StepsPerEpoch => StageTrainer.StepsPerEpoch(Data.Train.Count, BatchSize);

    public static BenchContext Create(string dataDirectory)
    {
        var options = new DataOptions
        {
            Format = DataFormat.Idx,
            TrainIdx = new IdxFiles("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            TestIdx = new IdxFiles("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            ValidationFraction = 0.1,
            Normalize = NormalizationMode.Standard,
        };
        var data = DatasetLoader.Load(options, dataDirectory, Seed);
        manual_seed(TeacherSeed);
        var teacher = ModelZoo.Build(TeacherSpec, data.InputShape, data.NumClasses);
        teacher.eval();
        string storeDirectory = Path.Combine(Path.GetTempPath(), $"distill-bench-{Guid.NewGuid():N}");
        var store = RunStore.Open(storeDirectory);
        return new BenchContext(dataDirectory, data, teacher, storeDirectory, store);
    }

    /// <summary>The student with the same initial weights every time.</summary>
    public ZooModel BuildStudent()
    {
        manual_seed(StudentSeed);
        return ModelZoo.Build(StudentSpec, Data.InputShape, Data.NumClasses);
    }

    /// <summary>One epoch of soft-target KD with Adam at a constant learning rate.</summary>
    public static StageOptions KdStage(bool cacheTeacher) => new()
    {
        Name = "distil",
        Epochs = 1,
        BatchSize = BatchSize,
        Optimizer = new OptimizerOptions { Kind = OptimizerKind.Adam, LearningRate = LearningRate },
        Schedule = new ScheduleOptions { Kind = ScheduleKind.Constant },
        Loss = new LossOptions { Terms = [new KdOptions { Temperature = Temperature, Alpha = Alpha }] },
        CacheTeacher = cacheTeacher,
    };

    /// <summary>The batches StageTrainer draws in epoch <paramref name="epoch"/> of the distil phase.</summary>
    public IReadOnlyList<long[]> EpochBatches(int epoch, out int epochSeed)
    {
        epochSeed = StageTrainer.EpochSeed(Seed, PhaseIndex, epoch);
        return BatchSampler.Batches(Data.Train.Count, BatchSize, shuffle: true, epochSeed);
    }

    /// <summary>Looks for data/fashion-mnist-subset above the working directory and above the program.</summary>
    public static string FindDataDirectory()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "data", "fashion-mnist-subset");
                if (File.Exists(Path.Combine(candidate, "train-images-idx3-ubyte.gz")))
                    return candidate;
            }
        }
        throw new InvalidInputException(
            "cannot find data/fashion-mnist-subset above the working directory; run from the repository or pass --data <folder>");
    }

    public void Dispose()
    {
        Store.Dispose();
        Teacher.Dispose();
        Data.Dispose();
        try
        {
            Directory.Delete(_storeDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless; the figures are already printed.
        }
    }
}
