using TorchSharp;
var x = torch.randn(3, 4);
var l = torch.nn.Linear(4, 2);
Console.WriteLine(l.call(x).sum().item<float>());
Console.WriteLine(torch.__version__);
